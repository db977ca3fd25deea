//go:build linux

package process

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
	"github.com/hotpatch-go/hotpatch/registry"
)

// buildChanFixture builds testdata/chanfixture with the test binary's flags
// into a directory removed with the test. One test uses it, so this is
// once per run (and still right under -count).
func buildChanFixture(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "chanfixture.proc")
	if err := testbuild.Build(".", bin, "./testdata/chanfixture"); err != nil {
		t.Fatal(err)
	}
	return bin
}

const chanFixtureHuge = 64<<20 + 1<<20 // testdata/chanfixture's HugeSize

// loadChanFixture loads the fixture as a process patch and returns its
// implementations; the process stops at the end of the test.
func loadChanFixture(t *testing.T) (map[string]any, *reportSink) {
	bin := buildChanFixture(t)
	reg := registry.New()
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	registry.MustRegister(reg, "h.SSE", noop)
	registry.MustRegister(reg, "h.Huge", noop)
	for i := range httpcases.Cases {
		registry.MustRegister(reg, fmt.Sprintf("h.Case%d", i), noop)
	}
	sink := &reportSink{reg: reg}
	l := New(Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { l.Close(context.Background()) })
	p, err := l.Load(context.Background(), sink, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Retire(context.Background()) })
	return p.Impls, sink
}

// TestHTTPBridgeProcess compares the handler table compiled and served by
// a plugin process, streams server-sent events from it, and takes a
// response larger than one frame.
func TestHTTPBridgeProcess(t *testing.T) {
	impls, sink := loadChanFixture(t)
	t.Run("table", func(t *testing.T) {
		compareCases(t, newBridgeServers(t, httpcases.Cases, impls, sink), httpcases.Cases)
	})
	mux := http.NewServeMux()
	mux.Handle("/sse", impls["h.SSE"].(http.HandlerFunc))
	mux.Handle("/huge", impls["h.Huge"].(http.HandlerFunc))
	be := newBridgeServers(t, nil, nil, sink)
	be.bridged.Config.Handler = mux

	t.Run("sse", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "ack")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", be.bridged.URL+"/sse", nil)
		req.Header.Set("X-Ack", fifo)
		start := time.Now()
		resp, err := be.bridged.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack *os.File
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("data: %d\n", i) {
				t.Fatalf("event %d: %q, %v", i, line, err)
			}
			if i == 0 {
				t.Logf("first event after %v (the handler is still running)", time.Since(start))
				if ack, err = os.OpenFile(fifo, os.O_WRONLY, 0); err != nil {
					t.Fatal(err)
				}
				defer ack.Close()
			}
			br.ReadString('\n')
			ack.Write([]byte{1}) // only now may the handler go on
		}
	})
	t.Run("huge", func(t *testing.T) {
		resp, err := be.bridged.Client().Get(be.bridged.URL + "/huge")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != chanFixtureHuge {
			t.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	})
	if n := sink.count(); n != 0 {
		t.Errorf("%d failures reported", n)
	}
}
