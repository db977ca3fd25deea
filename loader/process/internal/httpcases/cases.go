// Package httpcases is a table of HTTP handlers that the process
// loader's tests run both compiled and through the HTTP bridge (in the test
// process and in a plugin executable) and compare with net/http's client.
package httpcases

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing/fstest"
	"time"
)

var modTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func head(url string) *http.Request { r, _ := http.NewRequest("HEAD", url, nil); return r }

// Case is one handler run both compiled and through the bridge.
type Case struct {
	Name    string
	Handler http.HandlerFunc
	Req     func(url string) *http.Request // nil: GET url
	Strip   bool                           // serve under http.StripPrefix("/p")
}

// Get is a GET request of url.
func Get(url string) *http.Request {
	r, _ := http.NewRequest("GET", url, nil)
	return r
}

// Cases are the handlers, each with the request that tries it.
var Cases = []Case{
	{Name: "small", Handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }},
	{Name: "status and headers", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-A", "1")
		w.Header().Add("X-A", "2")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}},
	{Name: "header after body", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.Header().Set("X-Late", "1")
	}},
	{Name: "declared trailer", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		io.WriteString(w, "body")
		w.Header().Set("X-T", "v")
	}},
	{Name: "prefix trailer", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-P", "p")
	}},
	{Name: "middleware header", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "mw="+w.Header().Get("X-Mw"))
		w.Header().Del("X-Mw-Del")
	}},
	{Name: "tls", Handler: func(w http.ResponseWriter, r *http.Request) {
		t := r.TLS
		fmt.Fprintf(w, "%v %x %x %v %v %q %q %d %d", t != nil, t.Version, t.CipherSuite, t.HandshakeComplete,
			t.DidResume, t.ServerName, t.NegotiatedProtocol, len(t.PeerCertificates), t.CurveID)
	}},
	{Name: "chunked request with trailers", Handler: func(w http.ResponseWriter, r *http.Request) {
		declared := fmt.Sprint(reflect.ValueOf(r.Trailer).MapKeys())
		before := r.Trailer.Get("X-Rt")
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %q %d %v %s %q %q", r.ContentLength, r.TransferEncoding, len(b), err, declared, before, r.Trailer.Get("X-Rt"))
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader("part1,"), strings.NewReader("part2")))
		r.Trailer = http.Header{"X-Rt": {"rv"}}
		return r
	}},
	{Name: "close", Handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Close) },
		Req: func(url string) *http.Request { r := Get(url); r.Close = true; return r }},
	{Name: "abort before writing", Handler: func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }},
	{Name: "abort after writing", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}},
	{Name: "big at once", Handler: func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("0123456789"), 300_000)) }},
	{Name: "big in pieces", Handler: func(w http.ResponseWriter, r *http.Request) {
		for i := range 100 {
			w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 40_000))
		}
	}},
	{Name: "large upload", Handler: func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %d %v %x", r.ContentLength, n, err, h.Sum(nil))
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("PUT", url, bytes.NewReader(bytes.Repeat([]byte("upload"), 500_000)))
		return r
	}},
	{Name: "small upload", Handler: func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %q %v", r.ContentLength, b, err)
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url, strings.NewReader("a=1&b=2"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{Name: "form", Handler: func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q %q", r.FormValue("a"), r.FormValue("q"))
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url+"?q=z", strings.NewReader("a=1&b=2"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{Name: "sniffed type", Handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>x</body></html>") }},
	{Name: "empty", Handler: func(w http.ResponseWriter, r *http.Request) {}},
	{Name: "head", Handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "abc") },
		Req: func(url string) *http.Request { r, _ := http.NewRequest("HEAD", url, nil); return r }},
	{Name: "no content with body", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(err)
		}
	}},
	{Name: "superfluous WriteHeader", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "x")
	}},
	{Name: "informational", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-After", "1")
		io.WriteString(w, "x")
	}},
	{Name: "flush then more", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	}},
	{Name: "rewritten URL", Strip: true, Handler: func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q %q %q", r.URL.Path, r.URL.RawQuery, r.RequestURI)
	}, Req: func(url string) *http.Request { return Get(strings.Replace(url, "/h/", "/p/h/", 1) + "?x=%2F&y") }},
	{Name: "request fields", Handler: func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":") // the two servers' ports differ
		fmt.Fprintf(w, "%s %s %q %v %q %q", r.Method, r.Proto, host, r.RemoteAddr != "", r.Header.Get("X-In"), r.UserAgent())
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("PATCH", url, nil)
		r.Header.Set("X-In", "in")
		return r
	}},
	{Name: "ServeContent range", Handler: func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a.txt", modTime, strings.NewReader(strings.Repeat("0123456789", 10000)))
	}, Req: func(url string) *http.Request { r := Get(url); r.Header.Set("Range", "bytes=10-99999"); return r }},
	{Name: "ServeContent If-Modified-Since", Handler: func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a.txt", modTime, strings.NewReader("hello"))
	}, Req: func(url string) *http.Request {
		r := Get(url)
		r.Header.Set("If-Modified-Since", modTime.Format(http.TimeFormat))
		return r
	}},
	{Name: "ServeContent HEAD", Handler: func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "a.txt", modTime, strings.NewReader(strings.Repeat("x", 100000)))
	}, Req: head},
	{Name: "FileServer suffix range", Handler: func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/f.txt"
		http.FileServerFS(fstest.MapFS{"f.txt": {Data: bytes.Repeat([]byte("abc"), 50000), ModTime: modTime}}).ServeHTTP(w, r)
	}, Req: func(url string) *http.Request { r := Get(url); r.Header.Set("Range", "bytes=-5"); return r }},
	{Name: "HEAD with a large body written", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 100000))
	}, Req: head},
	{Name: "HEAD with Content-Length set", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
	}, Req: head},
	{Name: "not modified with body", Handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
		_, err := io.WriteString(w, "x")
		w.Header().Set("X-Err", fmt.Sprint(err)) // ignored: the head is out
	}},
	{Name: "body read after close", Handler: func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 10)
		n, err := io.ReadFull(r.Body, b)
		cerr := r.Body.Close()
		m, err2 := r.Body.Read(b)
		fmt.Fprintf(w, "%d %v %v %d %v", n, err, cerr, m, err2 != nil && (errors.Is(err2, http.ErrBodyReadAfterClose) || err2.Error() == "body closed by handler"))
	}, Req: func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader("abcdefghijklmnop"), bytes.NewReader(make([]byte, 200<<10)))) // streams (over inlineBody), and net/http can discard what is left after the handler
		return r
	}},
	{Name: "flush through the ResponseController", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		fmt.Fprint(w, http.NewResponseController(w).Flush())
	}},
}
