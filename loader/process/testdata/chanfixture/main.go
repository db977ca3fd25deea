// Command chanfixture is a plugin executable for the HTTP bridge tests: it
// serves the handlers of internal/httpcases (slot h.CaseN for case N) and
// two streaming handlers, h.SSE and h.Huge.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
	"github.com/hotpatch-go/hotpatch/loader/process/procplugin"
)

// HugeSize is the size of h.Huge's response: over one call channel frame.
const HugeSize = 64<<20 + 1<<20

func main() {
	impls := map[string]any{
		"h.SSE":  http.HandlerFunc(sse),
		"h.Huge": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, HugeSize)) }),
	}
	for i, c := range httpcases.Cases {
		impls[fmt.Sprintf("h.Case%d", i)] = c.Handler
	}
	procplugin.Serve(impls)
}

// sse writes three events, flushing each, and before the next waits for a
// byte on the FIFO named by the X-Ack header: the test writes it once it
// has the event, so an event that did not stream would hang the test.
func sse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	var ack *os.File
	var b [1]byte
	for i := range 3 {
		fmt.Fprintf(w, "data: %d\n\n", i)
		w.(http.Flusher).Flush()
		if ack == nil { // opening a FIFO waits for its writer: the test, once it has the first event
			f, err := os.Open(r.Header.Get("X-Ack"))
			if err != nil {
				return
			}
			defer f.Close()
			ack = f
		}
		if _, err := ack.Read(b[:]); err != nil {
			return
		}
	}
}
