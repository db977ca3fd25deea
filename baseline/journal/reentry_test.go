package journal_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// syncingHandler is a logger's handler that calls Sync and Close of the
// journal on the records the journal logs, as an application's logger
// that flushes state on notable records might.
type syncingHandler struct {
	slog.Handler
	j      atomic.Pointer[journal.Journal]
	synced chan error
	close  bool
}

func (h *syncingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *syncingHandler) Handle(ctx context.Context, r slog.Record) error {
	if j := h.j.Load(); j != nil && strings.HasPrefix(r.Message, "journal: ") {
		ctx, cancel := context.WithTimeout(ctx, time.Minute) // a hang detector
		defer cancel()
		err := j.Sync(ctx)
		if h.close {
			j.Close()
		}
		select {
		case h.synced <- err:
		default:
		}
	}
	return nil
}

// TestSyncFromOwnGoroutine: the journal logs, on its own goroutine, that
// it took the state directory back; a logger that calls Sync (or Close)
// there got a journal waiting on itself. Sync now answers
// ErrOwnGoroutine at once, Close returns, and the journal goes on.
func TestSyncFromOwnGoroutine(t *testing.T) {
	t.Parallel()
	for _, closing := range []bool{false, true} {
		state, src := stateDir(t), t.TempDir()
		h := &syncingHandler{Handler: slog.DiscardHandler, synced: make(chan error, 1), close: closing}
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
		t.Cleanup(func() { j.Close() })
		first := &server{m: m, j: j, hist: m.History}
		first.apply(t, writeFile(t, src, "a.txt", "A"))
		failed := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
		failed.stop(t)
		h.j.Store(j)

		// The next change: the journal takes the directory back and
		// logs it, on its own goroutine.
		p, err := m.Load(context.Background(), m.Loaders()[0], writeFile(t, src, "b.txt", "B"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-h.synced:
			if !errors.Is(err, journal.ErrOwnGoroutine) {
				t.Errorf("Sync from the journal's goroutine = %v, want ErrOwnGoroutine", err)
			}
		case <-time.After(time.Minute): // a hang detector
			t.Fatal("the logger's Sync did not return")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = j.Sync(ctx)
		cancel()
		switch {
		case closing && !errors.Is(err, journal.ErrClosed):
			t.Errorf("Sync after the logger closed the journal = %v, want ErrClosed", err)
		case !closing && err != nil:
			t.Errorf("Sync from elsewhere = %v", err)
		}
	}
}
