package patchdir_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// wordLoader loads "*.word" files: the file's content is the greeting word.
// Content "fail" fails to load; "wrongtype" loads an implementation of the
// wrong type.
type wordLoader struct {
	loads, released, closed atomic.Int32
	asked                   sync.Map // base names Match was asked about
}

func (l *wordLoader) Kind() hotswap.Kind { return hotswap.KindScript }
func (l *wordLoader) Match(path string) bool {
	l.asked.Store(filepath.Base(path), true)
	return strings.HasSuffix(path, ".word")
}
func (l *wordLoader) Close(context.Context) error {
	l.closed.Add(1)
	return nil
}
func (l *wordLoader) Load(_ context.Context, _ hotswap.Host, path string) (hotswap.Patch, error) {
	b, _, err := patchfile.ReadFile(path, 1<<20)
	if err != nil {
		return hotswap.Patch{}, err
	}
	word := strings.TrimSpace(string(b))
	if word == "fail" {
		return hotswap.Patch{}, fmt.Errorf("%s:1:1: cannot load this", path)
	}
	l.loads.Add(1)
	var impl any = func(n string) string { return word + ", " + n }
	if word == "wrongtype" {
		impl = func(n int) string { return "" }
	}
	return hotswap.Patch{
		ID:     fmt.Sprintf("%s-%x", filepath.Base(path), sha256.Sum256(b))[:20],
		Kind:   hotswap.KindScript,
		Impls:  map[string]any{"example.Greet": impl},
		Retire: func(context.Context) error { l.released.Add(1); return nil },
	}, nil
}

func writeAtomic(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestWatchDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	writeAtomic(t, dir, "greet.word", "early") // present before the watch starts
	l := &wordLoader{}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 20 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	greet := func() string { return f.greet.Load()("x") }
	waitFor(t, func() bool { return greet() == "early, x" })

	writeAtomic(t, dir, "greet.word", "second")
	waitFor(t, func() bool { return greet() == "second, x" })
	if st := f.m.Status(); len(st.Stack) != 1 {
		t.Fatalf("a changed file left %d patches in the stack, want 1", len(st.Stack))
	}
	waitFor(t, func() bool { return l.released.Load() == 1 }) // "early" retired

	// Bad files are refused with the file name; the old version serves.
	for _, bad := range []string{"fail", "wrongtype"} {
		n := len(f.m.History())
		writeAtomic(t, dir, "greet.word", bad)
		waitFor(t, func() bool {
			for _, e := range f.m.History()[n:] {
				if e.Type == hotswap.EventRejected && e.Err != nil && strings.Contains(e.Err.Error()+e.Source, "greet.word") {
					return true
				}
			}
			return false
		})
		if greet() != "second, x" {
			t.Fatalf("after bad file %q: serving %q", bad, greet())
		}
	}
	// The refused "wrongtype" load was released.
	waitFor(t, func() bool { return l.released.Load() == 2 })

	// Back to good content: applied in place of "second".
	writeAtomic(t, dir, "greet.word", "third")
	waitFor(t, func() bool { return greet() == "third, x" })

	// A second file stacks on top; removing it falls back to the first.
	writeAtomic(t, dir, "other.word", "other")
	waitFor(t, func() bool { return greet() == "other, x" })
	if err := os.Remove(filepath.Join(dir, "other.word")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return greet() == "third, x" })

	// Removing the last file brings the baseline back.
	if err := os.Remove(filepath.Join(dir, "greet.word")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return greet() == "hello, x" })

	// Files no loader matches are ignored.
	writeAtomic(t, dir, "notes.txt", "nothing")
	waitFor(t, func() bool { _, ok := l.asked.Load("notes.txt"); return ok })
	if greet() != "hello, x" {
		t.Fatal("an unmatched file changed a slot")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWatchDirRevertedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeAtomic(t, dir, "greet.word", "one")
	waitFor(t, func() bool { return f.greet.PatchID() != "" })
	// An operator reverts the file's patch; the next version still applies.
	if err := f.m.Revert(context.Background(), f.greet.PatchID()); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "greet.word", "two")
	waitFor(t, func() bool { return f.greet.Load()("x") == "two, x" })
	// ... without a spurious rejection on the way.
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRejected {
			t.Errorf("unexpected rejection: %v", e)
		}
	}
}

func TestWatchDirBadArgs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	if _, err := patchdir.Watch(context.Background(), f.m, t.TempDir(), patchdir.Options{}); !errors.Is(err, patchdir.ErrNoLoaders) {
		t.Fatalf("no loaders attached: err = %v, want ErrNoLoaders", err)
	}
	if _, err := f.watch(t, filepath.Join(t.TempDir(), "missing"), patchdir.Options{}, &wordLoader{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing dir: err = %v", err)
	}
}

// TestWatchClosedManager: a watch of a closed manager is refused with
// hotswap.ErrClosed, and the manager's Close closed the loader it owns.
func TestWatchClosedManager(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	l := &wordLoader{}
	if err := f.m.Attach(l); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.closed.Load() != 1 {
		t.Fatalf("the manager's Close closed its loader %d times, want 1", l.closed.Load())
	}
	if _, err := patchdir.Watch(context.Background(), f.m, t.TempDir(), patchdir.Options{}); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("watch of a closed manager: err = %v, want hotswap.ErrClosed", err)
	}
}

func TestWatchDirStopsWithContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	if err := f.m.Attach(&wordLoader{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := patchdir.Watch(ctx, f.m, t.TempDir(), patchdir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
