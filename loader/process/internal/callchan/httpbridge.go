package callchan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP bridge's frames and semantics are described in the package
// documentation (doc.go).

const (
	bodyChunk  = 32 << 10  // body bytes per frame
	respWindow = 1 << 20   // response body bytes the plugin may send ahead of the host's writes
	reqWindow  = 256 << 10 // request body bytes the host may send ahead of the handler's reads
	inlineBody = 64 << 10  // a request body of known length up to this travels in the call frame
)

// HTTPRequest is an HTTP request head on the wire.
type HTTPRequest struct {
	Method           string
	URL              string
	RequestURI       string
	Proto            string
	Host             string
	RemoteAddr       string
	Header           map[string][]string
	Trailer          []string // declared trailer keys
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	TLS              *httpTLS
	RespHeader       map[string][]string // set on the host's ResponseWriter before the handler
	Body             []byte
	BodyInline       bool // Body is the whole body; otherwise it streams
}

// httpTLS is the part of a tls.ConnectionState that can cross: everything
// but the exporter (a func). Certificates travel as DER.
type httpTLS struct {
	Version                     uint16
	HandshakeComplete           bool
	DidResume                   bool
	CipherSuite                 uint16
	CurveID                     uint16
	NegotiatedProtocol          string
	ServerName                  string
	PeerCertificates            [][]byte
	VerifiedChains              [][][]byte
	SignedCertificateTimestamps [][]byte
	OCSPResponse                []byte
	TLSUnique                   []byte
	ECHAccepted                 bool
	HelloRetryRequest           bool
}

// httpHead is a response status and header.
type httpHead struct {
	Status int
	Header map[string][]string
}

// httpEnd is the body of a statusOK result frame of an HTTP call.
type httpEnd struct {
	Head   *httpHead           // when no head frame was sent
	Body   []byte              // the last body bytes
	Header map[string][]string // the final header map, when it may hold trailers
}

// httpReqEnd is the body of a frameEnd.
type httpReqEnd struct {
	Trailer map[string][]string
	Err     string // the host's error reading the body; "" at its end
	Limit   int64  // Err is an *http.MaxBytesError with this limit
}

// HTTPCodecs are the codecs of the messages.
type HTTPCodecs struct {
	req, head, end, reqEnd *typeCodec
}

// NewHTTPCodecs compiles the codecs of the HTTP bridge's messages.
func NewHTTPCodecs() HTTPCodecs {
	b := NewCodecBuilder()
	build := func(t reflect.Type) *typeCodec {
		c, err := b.build(t, t.Name())
		if err != nil {
			panic(err) // unreachable: the types are fixed
		}
		return c
	}
	return HTTPCodecs{
		req:    build(reflect.TypeFor[HTTPRequest]()),
		head:   build(reflect.TypeFor[httpHead]()),
		end:    build(reflect.TypeFor[httpEnd]()),
		reqEnd: build(reflect.TypeFor[httpReqEnd]()),
	}
}

// hasBody reports whether r has a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && (r.ContentLength != 0 || len(r.TransferEncoding) > 0)
}

// CaptureRequest describes r for the wire. A body of known length up to
// inlineBody is read whole.
func CaptureRequest(w http.ResponseWriter, r *http.Request) (HTTPRequest, error) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	hr := HTTPRequest{
		Method:           r.Method,
		URL:              r.URL.String(),
		RequestURI:       uri,
		Proto:            r.Proto,
		Host:             r.Host,
		RemoteAddr:       r.RemoteAddr,
		Header:           r.Header,
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Close:            r.Close,
		TLS:              captureTLS(r.TLS),
	}
	if h := w.Header(); len(h) > 0 {
		hr.RespHeader = h
	}
	for k := range r.Trailer {
		hr.Trailer = append(hr.Trailer, k)
	}
	if !hasBody(r) {
		hr.BodyInline = true
		return hr, nil
	}
	if r.ContentLength > 0 && r.ContentLength <= inlineBody && !expectsContinue(hr.Header) {
		body := make([]byte, r.ContentLength)
		n, err := io.ReadFull(r.Body, body)
		if err == nil {
			hr.Body, hr.BodyInline = body, true
			return hr, nil
		}
		// The handler, not the bridge, answers a body that fails (too
		// large for a host's http.MaxBytesReader, cut short): it streams,
		// the bytes read first, then what r.Body says next (its errors
		// are sticky).
		r.Body = replayBody{io.MultiReader(bytes.NewReader(body[:n]), r.Body), r.Body}
	}
	return hr, nil
}

type replayBody struct {
	io.Reader
	io.Closer
}

// expectsContinue reports whether a request with header h waits for
// "100 Continue" before it sends its body. net/http sends it when the
// handler first reads the body, so the body of such a request streams, and
// the host reads none of it until the plugin's handler asks (the plugin's
// first read grants the window).
func expectsContinue(h map[string][]string) bool {
	v := h["Expect"]
	return len(v) > 0 && strings.EqualFold(v[0], "100-continue")
}

func captureTLS(cs *tls.ConnectionState) *httpTLS {
	if cs == nil {
		return nil
	}
	t := &httpTLS{
		Version:                     cs.Version,
		HandshakeComplete:           cs.HandshakeComplete,
		DidResume:                   cs.DidResume,
		CipherSuite:                 cs.CipherSuite,
		CurveID:                     uint16(cs.CurveID),
		NegotiatedProtocol:          cs.NegotiatedProtocol,
		ServerName:                  cs.ServerName,
		SignedCertificateTimestamps: cs.SignedCertificateTimestamps,
		OCSPResponse:                cs.OCSPResponse,
		TLSUnique:                   cs.TLSUnique,
		ECHAccepted:                 cs.ECHAccepted,
		HelloRetryRequest:           cs.HelloRetryRequest,
	}
	for _, c := range cs.PeerCertificates {
		t.PeerCertificates = append(t.PeerCertificates, c.Raw)
	}
	for _, chain := range cs.VerifiedChains {
		var raw [][]byte
		for _, c := range chain {
			raw = append(raw, c.Raw)
		}
		t.VerifiedChains = append(t.VerifiedChains, raw)
	}
	return t
}

func (t *httpTLS) state() (*tls.ConnectionState, error) {
	cs := &tls.ConnectionState{
		Version:                     t.Version,
		HandshakeComplete:           t.HandshakeComplete,
		DidResume:                   t.DidResume,
		CipherSuite:                 t.CipherSuite,
		CurveID:                     tls.CurveID(t.CurveID),
		NegotiatedProtocol:          t.NegotiatedProtocol,
		NegotiatedProtocolIsMutual:  true,
		ServerName:                  t.ServerName,
		SignedCertificateTimestamps: t.SignedCertificateTimestamps,
		OCSPResponse:                t.OCSPResponse,
		TLSUnique:                   t.TLSUnique,
		ECHAccepted:                 t.ECHAccepted,
		HelloRetryRequest:           t.HelloRetryRequest,
	}
	for _, der := range t.PeerCertificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("TLS peer certificate: %w", err)
		}
		cs.PeerCertificates = append(cs.PeerCertificates, c)
	}
	for _, chain := range t.VerifiedChains {
		var cc []*x509.Certificate
		for _, der := range chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("TLS verified chain: %w", err)
			}
			cc = append(cc, c)
		}
		cs.VerifiedChains = append(cs.VerifiedChains, cc)
	}
	return cs, nil
}

// ServeHTTP forwards one HTTP request, captured by [CaptureRequest], to
// the slot at index idx and streams the response back to w. A failure
// goes to fail: with answer set when nothing was written to w yet (the
// caller answers 502 or 504), otherwise after which the response is
// aborted (ServeHTTP panics with http.ErrAbortHandler).
func (cc *Conn) ServeHTTP(w http.ResponseWriter, r *http.Request, hr *HTTPRequest, idx int, codecs *HTTPCodecs, fail func(err error, answer bool)) {
	pc := cc.get()
	pc.stream = true
	defer cc.put(pc)
	ctx := r.Context()
	e := encoder{b: beginFrame(pc.req[:0], frameCall, 0)}
	e.uvarint(uint64(idx))
	e.varint(deadlineOf(ctx))
	codecs.req.enc(&e, reflect.ValueOf(hr).Elem())
	pc.req = e.b
	if e.err == nil {
		e.err = endFrame(e.b)
	}
	if e.err != nil {
		http.Error(w, "request head: "+e.err.Error(), http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if err := cc.send(ctx, pc); err != nil {
		fail(err, true)
		return
	}
	hs := &hostStream{codecs: codecs, onFail: fail, cc: cc, pc: pc, w: w, ctx: ctx}
	var pump *bodyPump
	if !hr.BodyInline {
		pump = newBodyPump(cc, pc.link, pc.id, w, r, codecs.reqEnd)
		if expectsContinue(hr.Header) {
			pump.credit = 0
		}
		go pump.run(ctx)
		defer pump.stop()
	}
	hs.pump = pump
	hs.run()
}

// Restore gives r back the body that [CaptureRequest] read, for a
// request served by something else than a plugin.
func (hr *HTTPRequest) Restore(r *http.Request) {
	if hr.BodyInline && hr.Body != nil {
		r.Body = io.NopCloser(bytes.NewReader(hr.Body))
	}
}

// hostStream is the host's side of one HTTP call in flight.
type hostStream struct {
	codecs *HTTPCodecs
	onFail func(err error, answer bool)
	cc     *Conn
	pc     *pendingCall
	w      http.ResponseWriter
	ctx    context.Context
	pump   *bodyPump

	rctx context.Context // the reading of the response: hs.ctx, and drainGrace after it

	started   bool        // a final status was written to w
	gone      bool        // a write to w failed: the rest of the response is dropped
	cancelled atomic.Bool // the plugin was told to cancel the call
	headOut   atomic.Bool // started, for the AfterFunc
	consumed  int         // response body bytes written since the last window frame
}

func (hs *hostStream) run() {
	// The call outlives the client by up to drainGrace: when hs.ctx ends
	// (the client went away, or a middleware cancelled it), the plugin's
	// handler is cancelled and its frames are still read until its
	// result. (A deadline that passes before the head was sent answers 504
	// at once, as documented; what the plugin writes after it waits in the
	// connection until the next call reads it.) A stream left unread would block the plugin's writes on
	// a full socket, with its write lock held, until another call read
	// the connection; and a handler that answers its context's end (a 503
	// after a deadline) answers as it would compiled.
	ctx, stopRead := context.WithCancel(context.WithoutCancel(hs.ctx))
	defer stopRead()
	hs.rctx = ctx
	done := make(chan struct{})
	defer close(done)
	// The link and id are taken now: the AfterFunc may still run after run
	// returned and pc went back to its pool (a cancel for a finished call
	// is ignored by the plugin; ids are not reused on a link).
	l, id := hs.pc.link, hs.pc.id
	defer context.AfterFunc(hs.ctx, func() {
		hs.cancelCall(l, id, stopRead, done)
		if errors.Is(hs.ctx.Err(), context.DeadlineExceeded) && !hs.headOut.Load() {
			stopRead() // the request's deadline passed with nothing sent: 504 at once
		}
	})()
	finished := false
	defer func() {
		if !finished {
			hs.cc.abandon(hs.pc)
		}
	}()
	for {
		f, err := hs.cc.next(ctx, hs.pc)
		if err != nil {
			if cerr := hs.ctx.Err(); cerr != nil && ctx.Err() != nil {
				err = cerr // the grace after the client's end ran out
			}
			hs.fail(err)
			return
		}
		if f.typ == frameResult {
			finished = true
		}
		if hs.gone && f.typ != frameResult && f.typ != frameWindow {
			hs.cc.mem.release(f.charge) // the client cannot take it: drop it
			continue
		}
		err = hs.frameReleased(f)
		if errors.Is(err, errClientGone) {
			if finished {
				return
			}
			hs.gone = true
			hs.cancelCall(l, id, stopRead, done)
			continue
		}
		if err != nil {
			hs.fail(err)
			return
		}
		if finished {
			return
		}
	}
}

// drainGrace is how long the host goes on reading a call's response after
// its client went away and the plugin was told to cancel it.
const drainGrace = writeStall

// cancelCall tells the plugin to cancel the call (once) and ends the
// reading of its response after drainGrace, unless done closes first.
func (hs *hostStream) cancelCall(l *link, id uint64, stopRead func(), done <-chan struct{}) {
	if !hs.cancelled.CompareAndSwap(false, true) {
		return
	}
	hs.cc.cancel(l, id)
	go func() {
		t := time.NewTimer(drainGrace)
		defer t.Stop()
		select {
		case <-t.C:
			stopRead()
		case <-done:
		}
	}()
}

var errClientGone = errors.New("client gone")

// frameReleased is frame, releasing the frame's memory even when it
// aborts the response with a panic.
func (hs *hostStream) frameReleased(f streamFrame) error {
	defer hs.cc.mem.release(f.charge)
	return hs.frame(f)
}

// frame applies one frame of the response to w.
func (hs *hostStream) frame(f streamFrame) error {
	switch f.typ {
	case frameHead:
		var head httpHead
		if err := hs.decode(hs.codecs.head, f.body, &head); err != nil {
			return err
		}
		return hs.head(&head)
	case frameBody:
		if !hs.started {
			return fmt.Errorf("%w: response body before its head", ErrProtocol)
		}
		return hs.body(f.body)
	case frameFlush:
		_ = http.NewResponseController(hs.w).Flush()
		return nil
	case frameWindow:
		d := newDecoder(f.body)
		n := d.uvarint()
		if d.err != nil || hs.pump == nil || !hs.pump.grant(n) {
			return fmt.Errorf("%w: bad request body window", ErrProtocol)
		}
		return nil
	}
	// frameResult
	switch f.body[0] {
	case statusOK:
	case statusAbort:
		panic(http.ErrAbortHandler)
	case statusPanic:
		return decodePanic(f.body[1:])
	default:
		d := newDecoder(f.body[1:])
		return fmt.Errorf("%w: plugin refused the call: %s", ErrProtocol, d.string())
	}
	var end httpEnd
	if err := hs.decode(hs.codecs.end, f.body[1:], &end); err != nil {
		return err
	}
	if end.Head != nil {
		if err := hs.head(end.Head); err != nil {
			return err
		}
	}
	if !hs.started {
		return fmt.Errorf("%w: response without a final status", ErrProtocol)
	}
	if len(end.Body) > 0 {
		if _, err := hs.w.Write(end.Body); err != nil {
			return errClientGone
		}
	}
	if end.Header != nil {
		setHeader(hs.w.Header(), end.Header)
	}
	return nil
}

func (hs *hostStream) decode(c *typeCodec, body []byte, v any) error {
	d := newDecoder(body)
	c.dec(&d, reflect.ValueOf(v).Elem())
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("trailing bytes"))
	}
	if d.err != nil {
		return fmt.Errorf("%w: decode response: %w", ErrProtocol, d.err)
	}
	return nil
}

func (hs *hostStream) head(head *httpHead) error {
	if hs.started {
		return fmt.Errorf("%w: second response head", ErrProtocol)
	}
	if head.Status < 100 || head.Status > 999 {
		return fmt.Errorf("%w: bad status %d", ErrProtocol, head.Status)
	}
	setHeader(hs.w.Header(), head.Header)
	hs.w.WriteHeader(head.Status)
	if head.Status >= 200 || head.Status == http.StatusSwitchingProtocols {
		hs.started = true
		hs.headOut.Store(true)
	}
	return nil
}

func (hs *hostStream) body(p []byte) error {
	if _, err := hs.w.Write(p); err != nil {
		return errClientGone
	}
	hs.consumed += len(p)
	if hs.consumed < respWindow/2 {
		return nil
	}
	n := hs.consumed
	hs.consumed = 0
	hs.cc.mu.Lock()
	hs.pc.credit += n
	hs.cc.mu.Unlock()
	return hs.cc.write(hs.rctx, hs.pc.link, windowFrame(hs.pc.id, n))
}

// fail ends the call on an error: 502 (or 504) if nothing was sent, an
// aborted response otherwise; the caller reports it.
func (hs *hostStream) fail(err error) {
	if hs.ctx.Err() != nil && errors.Is(err, hs.ctx.Err()) && !errors.Is(err, context.DeadlineExceeded) {
		return // the client went away
	}
	if !hs.started {
		hs.onFail(err, true)
		return
	}
	hs.onFail(err, false)
	panic(http.ErrAbortHandler)
}

// setHeader makes h hold exactly src.
func setHeader(h http.Header, src map[string][]string) {
	clear(h)
	for k, v := range src {
		h[k] = v
	}
}

func windowFrame(id uint64, n int) []byte {
	e := encoder{b: beginFrame(make([]byte, 0, frameHeader+4), frameWindow, id)}
	e.uvarint(uint64(n))
	_ = endFrame(e.b)
	return e.b
}

// next returns the next frame of stream call pc, waiting (and leading the
// reading) as needed.
func (cc *Conn) next(ctx context.Context, pc *pendingCall) (streamFrame, error) {
	for {
		cc.mu.Lock()
		if len(pc.queue) > 0 {
			f := pc.queue[0]
			pc.queue[0] = streamFrame{}
			pc.queue = pc.queue[1:]
			if f.charge == 0 {
				pc.held -= len(f.body)
			}
			cc.mu.Unlock()
			return f, nil
		}
		if pc.done {
			err := pc.err
			cc.mu.Unlock()
			if err == nil {
				err = fmt.Errorf("%w: call ended without a result", ErrProtocol)
			}
			return streamFrame{}, err
		}
		cc.mu.Unlock()
		if ctx.Err() != nil {
			cc.abandon(pc)
			return streamFrame{}, ctx.Err()
		}
		if err := cc.wait(ctx, pc); err != nil {
			return streamFrame{}, err
		}
	}
}

// bodyPump sends a request body to the plugin as the window allows.
type bodyPump struct {
	cc     *Conn
	l      *link
	id     uint64
	w      http.ResponseWriter // to interrupt a read of r.Body (see stop)
	r      *http.Request
	endC   *typeCodec
	inRead atomic.Bool   // run may be in r.Body.Read
	wake   chan struct{} // a hint: credit grew
	quit   chan struct{} // closed by stop
	done   chan struct{} // closed when run returns
	mu     sync.Mutex    // guards credit
	credit int
}

func newBodyPump(cc *Conn, l *link, id uint64, w http.ResponseWriter, r *http.Request, endC *typeCodec) *bodyPump {
	return &bodyPump{cc: cc, l: l, id: id, w: w, r: r, endC: endC, credit: reqWindow,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// grant adds n bytes of credit; false if the plugin grants more than it
// may have been sent.
func (p *bodyPump) grant(n uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n > reqWindow || p.credit+int(n) > reqWindow {
		return false
	}
	p.credit += int(n)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// stop ends run and waits for it: the body must not be read once the
// host's handler returns. A read in progress is given readGrace to end by
// itself: a client that is still sending delivers bytes at once, and the
// rest of the body is then net/http's to discard (keeping the connection),
// as after a direct handler that stopped reading. A read that waits longer
// waits for a client who sent part of the body and now waits for the
// answer; it would wait for good, and the answer (buffered by net/http
// until the handler returns) would never go out: it is interrupted with a
// read deadline. A writer without SetReadDeadline (a middleware's wrapper
// that does not unwrap) leaves the read to end by itself.
func (p *bodyPump) stop() {
	close(p.quit)
	if p.inRead.Load() {
		t := time.NewTimer(readGrace)
		select {
		case <-p.done:
		case <-t.C:
			_ = http.NewResponseController(p.w).SetReadDeadline(time.Unix(1, 0))
		}
		t.Stop()
	}
	<-p.done
}

// readGrace is how long a read of the request body in progress when the
// handler returns may take before it is interrupted (see stop).
const readGrace = 250 * time.Millisecond

func (p *bodyPump) run(ctx context.Context) {
	defer close(p.done)
	buf := make([]byte, frameHeader+bodyChunk)
	for {
		p.mu.Lock()
		c := p.credit
		p.mu.Unlock()
		if c == 0 {
			select {
			case <-p.wake:
				continue
			case <-p.quit:
				return
			}
		}
		p.inRead.Store(true) // before looking at quit: stop sees it or run sees quit
		select {
		case <-p.quit: // the handler is done: read no more of the body
			return
		default:
		}
		frame := beginFrame(buf[:0], frameBody, p.id)
		n := min(c, bodyChunk)
		m, err := p.r.Body.Read(frame[frameHeader : frameHeader+n])
		p.inRead.Store(false)
		if m > 0 {
			frame = frame[:frameHeader+m]
			_ = endFrame(frame)
			p.mu.Lock()
			p.credit -= m
			p.mu.Unlock()
			if p.cc.write(ctx, p.l, frame) != nil {
				return
			}
		}
		if err == nil {
			continue
		}
		end := httpReqEnd{}
		if err == io.EOF {
			end.Trailer = p.r.Trailer
		} else {
			end.Err = err.Error()
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				end.Limit = mbe.Limit
			}
		}
		e := encoder{b: beginFrame(buf[:0], frameEnd, p.id)}
		p.endC.enc(&e, reflect.ValueOf(&end).Elem())
		if e.err == nil && endFrame(e.b) == nil {
			_ = p.cc.write(ctx, p.l, e.b)
		}
		return
	}
}

// The plugin's side.

// plugStream is the plugin's side of one HTTP call in flight: the request
// body as it arrives and the response window.
type plugStream struct {
	sc    *serverConn
	id    uint64
	rwake chan struct{} // a hint: request body data or its end arrived
	cwake chan struct{} // a hint: response credit arrived

	mu       sync.Mutex // guards the fields below
	data     [][]byte   // request body frames not yet read
	buffered int        // their bytes
	dropped  int        // bytes that arrived after Close
	eof      bool
	closed   bool // the handler closed the body: frames that arrive are dropped
	rerr     error
	trailer  map[string][]string
	unacked  int // request body bytes read since the last window frame
	credit   int // response body bytes the plugin may still send
}

func newPlugStream(sc *serverConn, id uint64) *plugStream {
	return &plugStream{sc: sc, id: id, rwake: make(chan struct{}, 1), cwake: make(chan struct{}, 1), credit: respWindow}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// frame takes a frame the host sent for the call; false on a protocol
// error.
func (st *plugStream) frame(typ byte, body []byte, endC *typeCodec) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch typ {
	case frameBody:
		defer wake(st.rwake)
		if st.eof || st.buffered+st.dropped+len(body) > reqWindow {
			return false
		}
		if st.closed {
			st.dropped += len(body) // never granted back: the window shrinks to 0
			break
		}
		st.data = append(st.data, body)
		st.buffered += len(body)
	case frameEnd:
		defer wake(st.rwake)
		var end httpReqEnd
		d := newDecoder(body)
		endC.dec(&d, reflect.ValueOf(&end).Elem())
		if d.err != nil || st.eof {
			return false
		}
		st.eof, st.trailer = true, end.Trailer
		switch {
		case end.Limit > 0: // as a host's http.MaxBytesReader said it
			st.rerr = &http.MaxBytesError{Limit: end.Limit}
		case end.Err != "":
			st.rerr = fmt.Errorf("process: host reading the request body: %s", end.Err)
		}
	case frameWindow:
		defer wake(st.cwake)
		d := newDecoder(body)
		n := d.uvarint()
		if d.err != nil || n > respWindow || st.credit+int(n) > respWindow {
			return false
		}
		st.credit += int(n)
	}
	return true
}

// plugBody is the request body on the plugin's side.
type plugBody struct {
	st  *plugStream
	ctx context.Context
	r   *http.Request
	ask bool // the host waits for the first read to send the body (Expect: 100-continue)
}

func (b *plugBody) Read(p []byte) (int, error) {
	st := b.st
	st.mu.Lock()
	closed := st.closed
	st.mu.Unlock()
	if closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.ask {
		b.ask = false
		st.sc.write(windowFrame(st.id, reqWindow))
	}
	for {
		st.mu.Lock()
		if len(st.data) > 0 {
			n := copy(p, st.data[0])
			if st.data[0] = st.data[0][n:]; len(st.data[0]) == 0 {
				st.data[0] = nil
				st.data = st.data[1:]
			}
			st.buffered -= n
			st.unacked += n
			grant := 0
			if st.unacked >= reqWindow/2 && !st.eof {
				grant, st.unacked = st.unacked, 0
			}
			st.mu.Unlock()
			if grant > 0 {
				st.sc.write(windowFrame(st.id, grant))
			}
			return n, nil
		}
		if st.eof {
			for k, v := range st.trailer {
				if b.r.Trailer == nil {
					b.r.Trailer = make(http.Header)
				}
				b.r.Trailer[k] = v
			}
			st.trailer = nil
			err := st.rerr
			st.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		st.mu.Unlock()
		select {
		case <-st.rwake:
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
}

// Close makes later reads fail with http.ErrBodyReadAfterClose, as
// net/http's body does; the host stops sending once the window it granted
// is used (the rest of the body is left to the host's server, as a direct
// handler leaves it to net/http).
func (b *plugBody) Close() error {
	b.st.mu.Lock()
	b.st.closed = true
	b.st.data, b.st.buffered = nil, 0
	b.st.mu.Unlock()
	return nil
}

// toRequest rebuilds the request on the plugin's side.
func (hr *HTTPRequest) toRequest(ctx context.Context, st *plugStream) (*http.Request, error) {
	u, err := url.Parse(hr.URL)
	if err != nil {
		return nil, fmt.Errorf("request URL %q: %w", hr.URL, err)
	}
	major, minor, ok := http.ParseHTTPVersion(hr.Proto)
	if !ok {
		hr.Proto, major, minor = "HTTP/1.1", 1, 1
	}
	if hr.Header == nil {
		hr.Header = make(map[string][]string)
	}
	r := &http.Request{
		Method:           hr.Method,
		URL:              u,
		Proto:            hr.Proto,
		ProtoMajor:       major,
		ProtoMinor:       minor,
		Header:           hr.Header,
		ContentLength:    hr.ContentLength,
		TransferEncoding: hr.TransferEncoding,
		Close:            hr.Close,
		Host:             hr.Host,
		RemoteAddr:       hr.RemoteAddr,
		RequestURI:       hr.RequestURI,
		Body:             http.NoBody,
	}
	if len(hr.Trailer) > 0 {
		r.Trailer = make(http.Header, len(hr.Trailer))
		for _, k := range hr.Trailer {
			r.Trailer[k] = nil
		}
	}
	if hr.TLS != nil {
		if r.TLS, err = hr.TLS.state(); err != nil {
			return nil, err
		}
	}
	r = r.WithContext(ctx)
	switch {
	case !hr.BodyInline:
		r.Body = &plugBody{st: st, ctx: ctx, r: r, ask: expectsContinue(hr.Header)}
	case len(hr.Body) > 0:
		r.Body = io.NopCloser(bytes.NewReader(hr.Body))
	}
	return r, nil
}

// plugWriter is the plugin's http.ResponseWriter.
type plugWriter struct {
	st     *plugStream
	ctx    context.Context
	codecs *HTTPCodecs

	header   http.Header
	status   int         // the final status, once written
	snap     http.Header // the header when the status was written
	headSent bool
	buf      []byte // body bytes not sent yet
	frame    []byte // reused frame buffer
	err      error  // a write failed: the call is over
	ended    atomic.Bool
}

// errAfterReturn is the error of a write to a plugin's ResponseWriter
// after its handler returned (from a goroutine it left behind).
var errAfterReturn = errors.New("process: write to an http.ResponseWriter after its handler returned")

// check sets w.err when the handler returned, and reports whether
// writing may go on. (A write after the call's context ended goes on while
// the host's window allows: the host reads it and writes it to the client
// if the client is still there, as a direct handler's answer to a
// deadline; once the host stops granting, the write fails with the
// context's error.)
func (w *plugWriter) check() bool {
	if w.err == nil && w.ended.Load() {
		w.err = errAfterReturn
	}
	return w.err == nil
}

func newPlugWriter(st *plugStream, ctx context.Context, codecs *HTTPCodecs, preset map[string][]string) *plugWriter {
	w := &plugWriter{st: st, ctx: ctx, codecs: codecs, header: make(http.Header, len(preset))}
	for k, v := range preset {
		w.header[k] = v
	}
	return w
}

func (w *plugWriter) Header() http.Header { return w.header }

func (w *plugWriter) WriteHeader(code int) {
	if w.status != 0 {
		return // as net/http: a superfluous call changes nothing
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.sendHead(code, w.header.Clone())
		return
	}
	w.status = code
	w.snap = w.header.Clone()
}

func (w *plugWriter) sendHead(code int, h http.Header) {
	if !w.check() {
		return
	}
	e := encoder{b: beginFrame(w.frame[:0], frameHead, w.st.id)}
	head := httpHead{Status: code, Header: h}
	w.codecs.head.enc(&e, reflect.ValueOf(&head).Elem())
	if e.err == nil {
		e.err = endFrame(e.b)
	}
	w.frame = e.b
	if e.err != nil {
		w.err = e.err
		return
	}
	w.st.sc.write(e.b)
}

// bodyAllowed is net/http's rule: no body with 1xx, 204 and 304.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

func (w *plugWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.check() {
		return 0, w.err
	}
	n := len(p)
	for len(w.buf)+len(p) > bodyChunk {
		if len(w.buf) == 0 { // send straight from p
			w.send(p[:bodyChunk])
			p = p[bodyChunk:]
		} else {
			k := bodyChunk - len(w.buf)
			w.buf = append(w.buf, p[:k]...)
			p = p[k:]
			w.send(w.buf)
			w.buf = w.buf[:0]
		}
		if w.err != nil {
			return n - len(p), w.err
		}
	}
	w.buf = append(w.buf, p...)
	return n, nil
}

// send sends body bytes within the host's window, sending the head first.
func (w *plugWriter) send(p []byte) {
	if !w.headSent {
		w.headSent = true
		w.sendHead(w.status, w.snap)
	}
	st := w.st
	for len(p) > 0 && w.check() {
		st.mu.Lock()
		n := min(st.credit, len(p))
		st.credit -= n
		st.mu.Unlock()
		if n == 0 {
			select {
			case <-st.cwake:
			case <-w.ctx.Done():
				w.err = w.ctx.Err()
			}
			continue
		}
		w.frame = append(beginFrame(w.frame[:0], frameBody, st.id), p[:n]...)
		_ = endFrame(w.frame)
		st.sc.write(w.frame)
		p = p[n:]
	}
}

// errHijack is what a plugin's handler gets from Hijack.
var errHijack = fmt.Errorf("process: Hijack is not bridged: a handler in a process patch cannot take over the client's connection, which the host holds (serve WebSockets and other upgrades from the host): %w", http.ErrNotSupported)

var hijackLogged atomic.Bool

// Hijack refuses: the connection is the host's. A WebSocket library then
// answers the upgrade with its error status and this message. The first
// refusal in a process is logged.
func (w *plugWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hijackLogged.CompareAndSwap(false, true) {
		slog.Warn("process patch: an HTTP handler asked to Hijack the connection; refused: Hijack is not bridged (logged once per process)")
	}
	return nil, nil, errHijack
}

// Flush sends what was written and asks the host to flush it to the
// client.
func (w *plugWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.check() {
		return
	}
	w.send(w.buf)
	w.buf = w.buf[:0]
	if w.err == nil {
		w.st.sc.write(beginFrameDone(frameFlush, w.st.id))
	}
}

func beginFrameDone(typ byte, id uint64) []byte {
	b := beginFrame(make([]byte, 0, frameHeader), typ, id)
	_ = endFrame(b)
	return b
}

// end returns the end of the response for the result frame.
func (w *plugWriter) end() httpEnd {
	w.ended.Store(true)
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	end := httpEnd{Body: w.buf}
	if !w.headSent {
		end.Head = &httpHead{Status: w.status, Header: w.snap}
	}
	if _, ok := w.snap["Trailer"]; ok || hasTrailerPrefix(w.header) {
		end.Header = w.header
	}
	return end
}

func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}
