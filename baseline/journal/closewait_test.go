package journal_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// closingHandler closes the journal from the journal's own goroutine (a
// logger it logs through), then holds that goroutine until proceed.
type closingHandler struct {
	slog.Handler
	j       atomic.Pointer[journal.Journal]
	blocked chan struct{}
	proceed chan struct{}
}

func (h *closingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *closingHandler) Handle(ctx context.Context, r slog.Record) error {
	if j := h.j.Load(); j != nil && strings.HasPrefix(r.Message, "journal: ") && h.j.CompareAndSwap(j, nil) {
		j.Close()
		close(h.blocked)
		<-h.proceed
	}
	return nil
}

// TestCloseWaitsAfterCloseFromOwnGoroutine: once a logger closed the
// journal from the journal's own goroutine (Close then returns at once),
// a later Close from elsewhere must wait, as Close does, until the
// journal's goroutine has ended and its owner file is gone. It returned
// at once, and the caller removed the state directory under a journal
// still at work ("directory not empty" in a test's cleanup).
func TestCloseWaitsAfterCloseFromOwnGoroutine(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	h := &closingHandler{Handler: slog.DiscardHandler, blocked: make(chan struct{}), proceed: make(chan struct{})}
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
	m, err := hotswap.New(reg, hotswap.Options{Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	if err := m.Attach(textLoader{hotswap.KindScript}); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(context.Background(), m, state, journal.Options{Identity: "exe:A"})
	if err != nil {
		t.Fatal(err)
	}
	first := &server{m: m, j: j, hist: m.History}
	first.apply(t, writeFile(t, src, "a.txt", "A"))
	failed := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	failed.stop(t)
	h.j.Store(j)
	// The next change: the journal takes the directory back and logs it,
	// on its own goroutine, where the logger closes it.
	p, err := m.Load(context.Background(), m.Loaders()[0], writeFile(t, src, "b.txt", "B"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	<-h.blocked
	owners := func() []string {
		names, _ := filepath.Glob(filepath.Join(state, "owner.*"))
		return names
	}
	left := make(chan []string, 1)
	go func() {
		j.Close()
		left <- owners()
	}()
	close(h.proceed)
	if names := <-left; len(names) > 0 {
		t.Errorf("Close returned while the journal's goroutine still ran: its owner file is still there: %v", names)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatal(err)
	}
}
