package patchdir_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/watcher"
)

// gatedLoader is a wordLoader whose loads of some names wait: after
// reading, on gates[name] (closed by the test), ignoring ctx; entered
// reports that such a load started.
type gatedLoader struct {
	wordLoader
	mu      sync.Mutex
	gates   map[string]chan struct{}
	entered chan string
	running sync.WaitGroup // loads in progress, for a clean end
}

func newGatedLoader(names ...string) *gatedLoader {
	l := &gatedLoader{gates: map[string]chan struct{}{}, entered: make(chan string, 16)}
	for _, n := range names {
		l.gates[n] = make(chan struct{})
	}
	return l
}

func (l *gatedLoader) open(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if g, ok := l.gates[name]; ok {
		close(g)
		delete(l.gates, name)
	}
}

func (l *gatedLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	l.running.Add(1)
	defer l.running.Done()
	l.mu.Lock()
	g := l.gates[filepath.Base(path)]
	l.mu.Unlock()
	p, err := l.wordLoader.Load(ctx, host, path)
	if g != nil {
		l.entered <- filepath.Base(path)
		<-g // a load that ignores its context
	}
	return p, err
}

// rejected reports whether the history holds a rejection of name whose
// error matches target.
func rejected(m *hotswap.Manager, name string, target error) bool {
	for _, e := range m.History() {
		if e.Type == hotswap.EventRejected && strings.HasSuffix(e.Source, name) && errors.Is(e.Err, target) {
			return true
		}
	}
	return false
}

// TestWatchStuckLoad: a load that ignores its context holds up no other
// file, is abandoned after LoadTimeout with a rejection that says so, and
// does not hold up Close.
func TestWatchStuckLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	l := newGatedLoader("stuck.word", "late.word")
	t.Cleanup(func() { l.open("stuck.word"); l.open("late.word"); l.running.Wait() })
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, LoadTimeout: 100 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeAtomic(t, dir, "stuck.word", "stuck")
	if got := <-l.entered; got != "stuck.word" {
		t.Fatalf("entered %s", got)
	}
	// Another file applies while the first is stuck.
	writeAtomic(t, dir, "greet.word", "other")
	waitFor(t, func() bool { return f.greet.Load()("x") == "other, x" })
	// The stuck one is abandoned, and says so.
	waitFor(t, func() bool { return rejected(f.m, "stuck.word", patchdir.ErrLoadAbandoned) })

	// A load stuck when Close comes does not hold Close up.
	writeAtomic(t, dir, "late.word", "late")
	if got := <-l.entered; got != "late.word" {
		t.Fatalf("entered %s", got)
	}
	within(t, "Close with a stuck load", func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if !rejected(f.m, "late.word", patchdir.ErrLoadAbandoned) {
		t.Error("the load abandoned at Close was not reported")
	}
	// What the abandoned loads make when they return is released.
	l.open("stuck.word")
	l.open("late.word")
	l.running.Wait()
	waitFor(t, func() bool { return l.released.Load() == 2 })
}

// TestWatchHugeFile: a 4 GiB sparse file is refused from its size, before
// it is read, and the file beside it applies.
func TestWatchHugeFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	big, err := os.Create(filepath.Join(dir, "big.word"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(4 << 30); err != nil {
		big.Close()
		t.Skipf("no sparse files here: %v", err)
	}
	big.Close()
	writeAtomic(t, dir, "greet.word", "small")
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFor(t, func() bool { return f.greet.Load()("x") == "small, x" })
	waitFor(t, func() bool { return rejected(f.m, "big.word", watcher.ErrTooLarge) })
}

// TestWatchStartOrder: at start, files that provide one slot apply in name
// order, whatever order their loads finish in: the last name serves.
func TestWatchStartOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	writeAtomic(t, dir, "a.word", "first")
	writeAtomic(t, dir, "b.word", "second")
	l := newGatedLoader("a.word") // a's load ends only after b's
	t.Cleanup(func() { l.open("a.word"); l.running.Wait() })
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	<-l.entered
	waitFor(t, func() bool { return l.loads.Load() == 2 }) // b loaded, a still loading
	l.open("a.word")
	waitFor(t, func() bool { return len(f.m.Status().Stack) == 2 })
	if got := f.greet.Load()("x"); got != "second, x" {
		t.Fatalf("serving %q, want b.word's", got)
	}
}

// TestWatchDirComesBack: a patch directory removed and created again is
// watched again, with an event, and its files apply.
func TestWatchDirComesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "greet.word", "one")
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFor(t, func() bool { return f.greet.Load()("x") == "one, x" })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.greet.Load()("x") == "hello, x" })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "greet.word", "two")
	waitFor(t, func() bool { return f.greet.Load()("x") == "two, x" })
	waitFor(t, func() bool {
		for _, e := range f.m.History() {
			if e.Type == patchdir.EventWatchResumed {
				return true
			}
		}
		return false
	})
}

// TestWatchCloseFromLoad: a loader that closes the watch from inside Load
// (or a Retire hook the watch runs) does not wait for itself.
func TestWatchCloseFromLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	closed := make(chan error, 1)
	var w *patchdir.Dir
	ready := make(chan struct{})
	l := &funcLoader{load: func(ctx context.Context, path string) (hotswap.Patch, error) {
		<-ready
		closed <- w.Close()
		return hotswap.Patch{}, errors.New("closed the watch")
	}}
	writeAtomic(t, dir, "greet.word", "x")
	var err error
	w, err = f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	within(t, "Close from Load", func() {
		if err := <-closed; err != nil {
			t.Errorf("Close from Load: %v", err)
		}
	})
	within(t, "Close", func() { w.Close() })
}

// funcLoader loads *.word files with a function.
type funcLoader struct {
	load func(ctx context.Context, path string) (hotswap.Patch, error)
}

func (l *funcLoader) Kind() hotswap.Kind     { return hotswap.KindScript }
func (l *funcLoader) Match(path string) bool { return strings.HasSuffix(path, ".word") }
func (l *funcLoader) Load(ctx context.Context, _ hotswap.Host, path string) (hotswap.Patch, error) {
	return l.load(ctx, path)
}
func (l *funcLoader) Close(context.Context) error { return nil }

// TestWatchManyFiles: many files changing at once, loaded concurrently,
// end in the state the directory holds: the stack has one patch per file,
// and removing all but one leaves that one serving.
func TestWatchManyFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, Parallel: 3}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 16
	for round := range 3 {
		for i := range n {
			writeAtomic(t, dir, fmt.Sprintf("f%02d.word", i), fmt.Sprintf("w%d-%d", i, round))
		}
	}
	waitFor(t, func() bool {
		st := f.m.Status()
		if len(st.Stack) != n {
			return false
		}
		for _, p := range st.Stack {
			if !strings.Contains(p.ID, "-") {
				return false
			}
		}
		return true
	})
	for i := range n - 1 {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("f%02d.word", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		return len(f.m.Status().Stack) == 1 && f.greet.Load()("x") == fmt.Sprintf("w%d-2, x", n-1)
	})
}
