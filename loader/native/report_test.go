package native

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/registry"
)

// recHost is a hotswap.Host that records failure reports.
type recHost struct {
	mu      sync.Mutex
	slots   []string
	reports []error
}

func (h *recHost) Slot(string) (registry.Slot, bool) { return nil, false }
func (h *recHost) ReportFailure(slot string, err error) {
	h.mu.Lock()
	h.slots = append(h.slots, slot)
	h.reports = append(h.reports, err)
	h.mu.Unlock()
}
func (h *recHost) RollBack(context.Context, string, error) error { return nil }
func (h *recHost) Record(hotswap.Event) error                    { return nil }
func (h *recHost) Logger() *slog.Logger                          { return slog.New(slog.DiscardHandler) }

// TestReporter: what the generated wrappers report through reaches the
// host once per panic, as a *hotswap.PanicError holding the very value
// and the stack, naming the patch; http.ErrAbortHandler is no failure; a
// value that cannot be compared is reported like any other; a redirect's
// panic counts against the patch's first slot. (The wrappers themselves
// run in the fixtures' plugins: see TestWrappersPassThrough.)
func TestReporter(t *testing.T) {
	t.Parallel()
	h := &recHost{}
	m := manifest.Manifest{Slots: []manifest.Slot{{Name: "example.B"}, {Name: "example.A"}}}
	rep := newReporter(h, "p-1", m)
	slice := []string{"x"}
	rep.slot("example.B", "boom")
	rep.slot("example.B", http.ErrAbortHandler)
	rep.slot("example.A", slice)
	rep.redirect("example.com/app.Round", "round")
	if len(h.reports) != 3 {
		t.Fatalf("%d reports, want 3 (the abort is not a failure): %v", len(h.reports), h.reports)
	}
	want := []struct {
		slot, msg string
		value     any
	}{
		{"example.B", "native p-1: ", "boom"},
		{"example.A", "native p-1: ", nil},
		{"example.A", "native p-1: redirected example.com/app.Round: ", "round"},
	}
	for i, w := range want {
		var pe *hotswap.PanicError
		if h.slots[i] != w.slot || !errors.As(h.reports[i], &pe) || !strings.HasPrefix(h.reports[i].Error(), w.msg) || len(pe.Stack) == 0 {
			t.Fatalf("report %d = %s: %v, want %s: %s...", i, h.slots[i], h.reports[i], w.slot, w.msg)
		}
		if w.value != nil && pe.Value != w.value {
			t.Errorf("report %d holds %#v, want %#v", i, pe.Value, w.value)
		}
	}
	var pe *hotswap.PanicError
	errors.As(h.reports[1], &pe)
	if v, ok := pe.Value.([]string); !ok || &v[0] != &slice[0] {
		t.Errorf("report 1 holds %#v, want the very slice", pe.Value)
	}
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
