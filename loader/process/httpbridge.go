package process

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
)

// An HTTP handler slot crosses the boundary as one request message and one
// response message: method, URL, headers and the whole body go to the
// plugin; status, headers and the whole body come back. Streaming responses
// (flushes, hijacking, server-sent events) are not bridged: the host writes
// the response once the handler has returned.

// httpRequest is an HTTP request on the wire.
type httpRequest struct {
	Method     string
	RequestURI string
	Proto      string
	Host       string
	RemoteAddr string
	TLS        bool
	Header     map[string][]string
	Body       []byte
}

// httpResponse is an HTTP response on the wire.
type httpResponse struct {
	Status int
	Header map[string][]string
	Body   []byte
}

// httpCodecs are the codecs of the two messages.
type httpCodecs struct {
	req, resp *typeCodec
}

func newHTTPCodecs() httpCodecs {
	b := newCodecBuilder()
	req, err := b.build(reflect.TypeFor[httpRequest](), "http request")
	if err != nil {
		panic(err) // unreachable: the types are fixed
	}
	resp, err := b.build(reflect.TypeFor[httpResponse](), "http response")
	if err != nil {
		panic(err)
	}
	return httpCodecs{req: req, resp: resp}
}

// readRequest captures r for the wire, reading its whole body.
func readRequest(r *http.Request) (httpRequest, error) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	hr := httpRequest{
		Method:     r.Method,
		RequestURI: uri,
		Proto:      r.Proto,
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		TLS:        r.TLS != nil,
		Header:     r.Header,
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFrame+1))
		if err != nil {
			return hr, fmt.Errorf("read request body: %w", err)
		}
		if len(body) > maxFrame {
			return hr, fmt.Errorf("%w: request body over %d bytes", ErrTooLarge, maxFrame)
		}
		hr.Body = body
	}
	return hr, nil
}

// toRequest rebuilds the request on the plugin's side.
func (hr *httpRequest) toRequest(ctx context.Context) (*http.Request, error) {
	u, err := url.ParseRequestURI(hr.RequestURI)
	if err != nil {
		return nil, fmt.Errorf("request URI %q: %w", hr.RequestURI, err)
	}
	major, minor, ok := http.ParseHTTPVersion(hr.Proto)
	if !ok {
		hr.Proto, major, minor = "HTTP/1.1", 1, 1
	}
	if hr.Header == nil {
		hr.Header = make(map[string][]string)
	}
	r := &http.Request{
		Method:        hr.Method,
		URL:           u,
		Proto:         hr.Proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        hr.Header,
		Body:          io.NopCloser(bytes.NewReader(hr.Body)),
		ContentLength: int64(len(hr.Body)),
		Host:          hr.Host,
		RemoteAddr:    hr.RemoteAddr,
		RequestURI:    hr.RequestURI,
	}
	if len(hr.Body) == 0 {
		r.Body = http.NoBody
	}
	if hr.TLS {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	return r.WithContext(ctx), nil
}

// recorder is the plugin-side http.ResponseWriter: it keeps the response
// for the trip back.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > maxFrame {
		return 0, fmt.Errorf("%w: response body over %d bytes", ErrTooLarge, maxFrame)
	}
	return w.body.Write(p)
}

// Flush is accepted and does nothing: the response goes back whole.
func (w *recorder) Flush() {}

func (w *recorder) response() httpResponse {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return httpResponse{Status: status, Header: w.header, Body: w.body.Bytes()}
}

// writeResponse writes resp to w on the host's side.
func writeResponse(w http.ResponseWriter, resp *httpResponse) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	status := resp.Status
	if status < 100 || status > 999 {
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}
