package patchdir_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// watchClosingHandler closes a directory watch from the logger, on the
// watch's own events.
type watchClosingHandler struct {
	mu   sync.Mutex
	w    *patchdir.Dir
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
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, &wordLoader{})
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

// TestWatchFileChangesAndBack: the glue finds a file changed after it
// settled (here: while it loads) and drops the load, but the file then
// holds the settled content again, so the watcher has nothing new to
// report: the glue must still apply what the directory holds.
func TestWatchFileChangesAndBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "greet.word")
	var once sync.Once
	loaded := make(chan struct{})
	inner := &wordLoader{}
	l := &funcLoader{load: func(ctx context.Context, p string) (hotswap.Patch, error) {
		pt, err := inner.Load(ctx, nil, p)
		once.Do(func() {
			// Rewritten in place while the load runs (an editor saving
			// mid-load); the glue sees this content after Load.
			if err := os.WriteFile(path, []byte("other"), 0o644); err != nil {
				t.Error(err)
			}
			close(loaded)
		})
		return pt, err
	}}
	if err := os.WriteFile(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 200 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	<-loaded
	// Saved again with the settled content, within the debounce period
	// of the rewrite: the watcher sees no change.
	waitFor(t, func() bool { return inner.released.Load() == 1 })
	if err := os.WriteFile(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.greet.Load()("x") == "one, x" })
}

// panickyMatchLoader is a wordLoader whose Match panics for bad.word.
type panickyMatchLoader struct{ wordLoader }

func (l *panickyMatchLoader) Match(path string) bool {
	if filepath.Base(path) == "bad.word" {
		panic("Match broke")
	}
	return l.wordLoader.Match(path)
}

// TestWatchMatchPanics: a loader whose Match panics (it runs on the
// watcher's goroutine) does not take the process down: the name is
// refused with an event, and other files apply.
func TestWatchMatchPanics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	writeAtomic(t, dir, "bad.word", "bad")
	writeAtomic(t, dir, "good.word", "good")
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, &panickyMatchLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFor(t, func() bool { return f.greet.Load()("x") == "good, x" })
	waitFor(t, func() bool {
		for _, e := range f.m.History() {
			var pe *hotswap.PanicError
			if e.Type == hotswap.EventRejected && errors.As(e.Err, &pe) && strings.Contains(e.Source, "bad.word") {
				return true
			}
		}
		return false
	})
}
