package watcher_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/watcher"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait for something that must happen. It is
// generous: it only decides how long a broken build takes to fail.
const patience = 10 * time.Second

// fast is the debounce of tests that do not depend on it.
const fast = 20 * time.Millisecond

// start creates a watcher that is closed when the test ends.
func start(t *testing.T, dir string, opts watcher.Options) *watcher.Watcher {
	t.Helper()
	w, err := watcher.New(dir, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

func goFiles(name string) bool {
	switch filepath.Ext(name) {
	case ".go", ".so", ".proc":
		return true
	}
	return false
}

// next returns the next event other than Synced, failing the test if
// none comes.
func next(t *testing.T, w *watcher.Watcher) watcher.Event {
	t.Helper()
	for {
		ev := nextAny(t, w)
		if ev.Op != watcher.Synced {
			return ev
		}
	}
}

// nextAny returns the next event, failing the test if none comes.
func nextAny(t *testing.T, w *watcher.Watcher) watcher.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("Events closed, want an event")
		}
		return ev
	case <-time.After(patience):
		t.Fatalf("no event within %v", patience)
	}
	panic("unreachable")
}

// barrier returns every event delivered before a change made now. It
// creates a fresh marker file and collects events until the marker's
// Apply: the watcher delivers changes in the order it observed them, so
// anything caused before the marker comes first. That makes "no event"
// assertions exact instead of a guess about how long to wait.
func barrier(t *testing.T, w *watcher.Watcher, dir string) []watcher.Event {
	t.Helper()
	name := fmt.Sprintf("zzbarrier%d.go", time.Now().UnixNano())
	writeRename(t, filepath.Join(dir, name), ".barrier.tmp", "barrier")
	var evs []watcher.Event
	for {
		ev := next(t, w)
		if ev.Name == name {
			if ev.Op != watcher.Apply {
				t.Fatalf("barrier: got %v %s", ev.Op, name)
			}
			return evs
		}
		if strings.HasPrefix(ev.Name, "zzbarrier") {
			continue // an earlier barrier's marker, seen by a later scan
		}
		evs = append(evs, ev)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRename writes content to a temporary name in the same directory,
// then renames it over path, as careful tools and editors do.
func writeRename(t *testing.T, path, tmpName, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), tmpName)
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func sumOf(content string) [sha256.Size]byte {
	return sha256.Sum256([]byte(content))
}

// is checks one event against the op, name and content it should carry.
func is(t *testing.T, ev watcher.Event, dir string, op watcher.Op, name, content string) {
	t.Helper()
	want := watcher.Event{Op: op, Name: name, Path: filepath.Join(dir, name)}
	if op == watcher.Apply {
		want.Sum = sumOf(content)
	}
	if ev != want {
		t.Errorf("got %s, want %s", describe(ev), describe(want))
	}
}

func describe(ev watcher.Event) string {
	if ev.Err != nil {
		return fmt.Sprintf("{%v %s %s size=%d err=%v}", ev.Op, ev.Name, ev.Path, ev.Size, ev.Err)
	}
	return fmt.Sprintf("{%v %s %s sum=%x}", ev.Op, ev.Name, ev.Path, ev.Sum[:4])
}

func describeAll(evs []watcher.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(describe(ev))
	}
	return "[" + b.String() + "]"
}

// none fails the test if evs is not empty.
func none(t *testing.T, evs []watcher.Event) {
	t.Helper()
	if len(evs) != 0 {
		t.Errorf("unexpected events: %s", describeAll(evs))
	}
}

// within runs change and reports whether it took less than d. The
// watcher can promise that no intermediate state of a change is reported
// only when the whole change takes less than the debounce period: a
// writer that stalls for longer (on a badly overloaded machine) has
// legitimately let the file settle in between. Tests then check the
// final state only, and say so.
func within(t *testing.T, d time.Duration, change func()) bool {
	t.Helper()
	start := time.Now()
	change()
	if took := time.Since(start); took >= d {
		t.Logf("the change took %v, not less than the debounce period %v: checking the final state only", took, d)
		return false
	}
	return true
}

// view is what a reader knows after a sequence of events: name -> sum.
type view map[string][sha256.Size]byte

// apply updates v with evs and returns it.
func (v view) apply(evs ...watcher.Event) view {
	for _, ev := range evs {
		switch ev.Op {
		case watcher.Apply:
			v[ev.Name] = ev.Sum
		case watcher.Remove:
			delete(v, ev.Name)
		}
	}
	return v
}
