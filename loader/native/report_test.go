package native

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// recHost is a hotswap.Host that records failure reports.
type recHost struct {
	mu      sync.Mutex
	reports []error
}

func (h *recHost) Slot(string) (registry.Slot, bool) { return nil, false }
func (h *recHost) ReportFailure(_ string, err error) {
	h.mu.Lock()
	h.reports = append(h.reports, err)
	h.mu.Unlock()
}
func (h *recHost) RollBack(context.Context, string, error) error { return nil }
func (h *recHost) Record(hotswap.Event) error                    { return nil }
func (h *recHost) Logger() *slog.Logger                          { return slog.New(slog.DiscardHandler) }

// TestReporting: the wrapper keeps the type, the results and the panic
// value, reports each panic once, and lets http.ErrAbortHandler through
// unreported.
func TestReporting(t *testing.T) {
	t.Parallel()
	h := &recHost{}
	f := reporting(h, "p1", "example.Join", func(sep string, parts ...string) string {
		if len(parts) == 0 {
			panic("no parts")
		}
		if parts[0] == "abort" {
			panic(http.ErrAbortHandler)
		}
		out := parts[0]
		for _, p := range parts[1:] {
			out += sep + p
		}
		return out
	}).(func(string, ...string) string)
	if got := f("-", "a", "b"); got != "a-b" {
		t.Fatalf("f = %q", got)
	}
	recovered := func(g func()) (v any) {
		defer func() { v = recover() }()
		g()
		return nil
	}
	if v := recovered(func() { f("-") }); v != "no parts" {
		t.Fatalf("panic value %#v, want the original", v)
	}
	if v := recovered(func() { f("-", "abort") }); v != http.ErrAbortHandler {
		t.Fatalf("panic value %#v, want http.ErrAbortHandler", v)
	}
	if len(h.reports) != 1 {
		t.Fatalf("%d reports, want 1 (the abort is not a failure)", len(h.reports))
	}
	var pe *hotswap.PanicError
	if !errors.As(h.reports[0], &pe) || pe.Value != "no parts" || len(pe.Stack) == 0 {
		t.Fatalf("report = %v", h.reports[0])
	}
}

//go:noinline
func benchGreet(name string) string { return name }

var benchSink string

// BenchmarkNativeCall measures a call through the reporting wrapper that
// every native implementation gets, against the same func called directly.
func BenchmarkNativeCall(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		f := benchGreet
		b.ReportAllocs()
		for b.Loop() {
			benchSink = f("x")
		}
	})
	b.Run("wrapped", func(b *testing.B) {
		f := reporting(&recHost{}, "p", "example.Greet", benchGreet).(func(string) string)
		b.ReportAllocs()
		for b.Loop() {
			benchSink = f("x")
		}
	})
}

// TestClosedError: a closed loader refuses loads with an error that
// matches hotswap.ErrClosed, as every kind's does.
func TestClosedError(t *testing.T) {
	t.Parallel()
	l := New(Options{Dir: t.TempDir()})
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := l.open("x.so", nil, nil, soInfo{})
	if !errors.Is(err, hotswap.ErrClosed) || !errors.Is(err, ErrClosed) {
		t.Fatalf("open after Close = %v, want ErrClosed matching hotswap.ErrClosed", err)
	}
}
