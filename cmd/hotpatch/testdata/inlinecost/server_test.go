package inlinecost

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var body = []byte(`{"customer":"c3","currency":"eur","coupon":"SPRING","items":[` +
	`{"sku":"b-200","quantity":2,"price":9.99},{"sku":"a-100","quantity":1,"price":120},` +
	`{"sku":"c-300","quantity":5,"price":1.25},{"sku":"d-400","quantity":3,"price":42.5}]}`)

func TestQuote(t *testing.T) {
	s := NewServer(100)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/quote", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer token-c3")
	s.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"total"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// BenchmarkHandler calls the handler directly: the service's CPU cost.
func BenchmarkHandler(b *testing.B) {
	s := NewServer(1000)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/quote", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer token-c3")
		s.ServeHTTP(w, r)
	}
}

// BenchmarkLoopback sends requests over a loopback TCP connection: the
// whole server path, net/http included.
func BenchmarkLoopback(b *testing.B) {
	srv := httptest.NewServer(NewServer(1000))
	defer srv.Close()
	c := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/quote", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-c3")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
