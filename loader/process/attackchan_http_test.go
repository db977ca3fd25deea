package process

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
)

// TestHTTPBridgeStalledUpload: a client sends part of a large body and
// then waits for the answer; the handler answers without reading the body.
// Compiled, the client gets the answer at once; bridged, the host must not
// wait for body bytes that will never come before it finishes the
// response.
func TestHTTPBridgeStalledUpload(t *testing.T) {
	cases := []httpcases.Case{{Name: "refuse", Handler: func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too big", http.StatusRequestEntityTooLarge)
	}}}
	be := newBridgeEnv(t, cases)
	for _, srv := range []string{be.direct.Listener.Addr().String(), be.bridged.Listener.Addr().String()} {
		c, err := tls.Dial("tcp", srv, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang detector
		fmt.Fprintf(c, "POST /h/0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer while the body stalls: %v", srv, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d", srv, resp.StatusCode)
		}
	}
	if n := be.sink.count(); n != 0 {
		t.Errorf("%d failures reported", n)
	}
}
