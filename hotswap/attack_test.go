package hotswap_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// panicHandler is a slog.Handler that panics on every record whose message
// is msg.
type panicHandler struct{ msg string }

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h panicHandler) WithGroup(string) slog.Handler            { return h }
func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		panic("handler broke on " + r.Message)
	}
	return nil
}

// TestLoggerPanics: a logger whose handler panics neither breaks the change
// that logs (the retire it starts still runs) nor makes Close wait forever.
func TestLoggerPanics(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{"hotswap: reverted", "hotswap: retired", "hotswap: applied"} {
		t.Run(msg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, hotswap.Options{Logger: slog.New(panicHandler{msg})})
			retired := make(chan struct{})
			p := greetPatch("p", "p")
			p.Retire = func(context.Context) error { close(retired); return nil }
			within(t, "Apply and Revert with a panicking logger", func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("a change panicked with the logger's panic: %v", v)
					}
				}()
				if _, err := f.m.Apply(context.Background(), p); err != nil {
					t.Errorf("Apply: %v", err)
				}
				if err := f.m.Revert(context.Background(), "p"); err != nil {
					t.Errorf("Revert: %v", err)
				}
			})
			within(t, "the retire", func() { <-retired })
			within(t, "Close", func() { f.m.Close() })
			f.serving(t, "hello", 10)
		})
	}
}

// watchClosingHandler closes a directory watch from the logger, on the
// watch's own events.
type watchClosingHandler struct {
	mu   sync.Mutex
	w    *hotswap.DirWatch
	errs chan error
}

func (h *watchClosingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *watchClosingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *watchClosingHandler) WithGroup(string) slog.Handler            { return h }
func (h *watchClosingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "hotswap: watch-error" && r.Message != "hotswap: watch-resumed" {
		return nil
	}
	h.mu.Lock()
	w := h.w
	h.mu.Unlock()
	if w != nil {
		err := w.Close()
		select {
		case h.errs <- err:
		default:
		}
	}
	return nil
}

// TestWatchLoggerClosesWatch: a logger that closes the watch when the
// watch reports trouble (the directory went away) does not wait for the
// watch's own loop, which is what logs.
func TestWatchLoggerClosesWatch(t *testing.T) {
	t.Parallel()
	h := &watchClosingHandler{errs: make(chan error, 1)}
	f := newFixture(t, hotswap.Options{Logger: slog.New(h)})
	dir := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "greet.word", "one")
	w, err := hotswap.Watch(context.Background(), f.m, dir, hotswap.WatchOptions{Debounce: 10 * time.Millisecond}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.w = w
	h.mu.Unlock()
	waitFor(t, func() bool { return f.greet.Load()("x") == "one, x" })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	within(t, "Close from the logger", func() {
		if err := <-h.errs; err != nil {
			t.Errorf("Close from the logger: %v", err)
		}
	})
	within(t, "Close", func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
