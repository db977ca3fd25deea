package journal

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// lateCloser closes the journal from the journal's own goroutine (a
// logger it logs through) once a Close from elsewhere has begun.
type lateCloser struct {
	slog.Handler
	j      atomic.Pointer[Journal]
	inLog  chan struct{}
	closed chan struct{}
}

func (h *lateCloser) Enabled(context.Context, slog.Level) bool { return true }

func (h *lateCloser) Handle(ctx context.Context, r slog.Record) error {
	if j := h.j.Load(); j != nil && strings.HasPrefix(r.Message, "journal: ") && h.j.CompareAndSwap(j, nil) {
		close(h.inLog)
		<-j.stop // the other Close has begun
		j.Close()
		close(h.closed)
	}
	return nil
}

// TestCloseFromOwnGoroutineDuringClose: a Close from the journal's own
// goroutine (a logger that closes it) while a Close from elsewhere runs
// returns at once, and so the other returns too. The second Close waited
// for the first, which waited for the journal's goroutine, which was the
// second Close's: both hung for good.
func TestCloseFromOwnGoroutineDuringClose(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	h := &lateCloser{Handler: slog.DiscardHandler, inLog: make(chan struct{}), closed: make(chan struct{})}
	open := func(log *slog.Logger) (*hotswap.Manager, *Journal) {
		reg := registry.New()
		registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
		m, err := hotswap.New(reg, hotswap.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close(context.Background()) })
		j, err := Open(context.Background(), m, dir, Options{Identity: "exe:A"})
		if err != nil {
			t.Fatal(err)
		}
		return m, j
	}
	m, j := open(slog.New(h))
	_, failed := open(nil) // takes the directory over, then its step fails
	failed.Close()
	h.j.Store(j)
	// The next change: the journal takes the directory back and logs it,
	// on its own goroutine.
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Kind: hotswap.KindManual,
		Impls: map[string]any{"example.Greet": func() string { return "p" }}}); err != nil {
		t.Fatal(err)
	}
	<-h.inLog
	done := make(chan struct{})
	go func() {
		j.Close()
		close(done)
	}()
	const hang = 30 * time.Second // a hang detector
	for _, c := range []struct {
		ch   chan struct{}
		what string
	}{{h.closed, "the Close from the journal's goroutine"}, {done, "the Close from elsewhere"}} {
		select {
		case <-c.ch:
		case <-time.After(hang):
			t.Fatalf("%s did not return within %s", c.what, hang)
		}
	}
}
