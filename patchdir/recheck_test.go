package patchdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestCheckRefusedRechecked: a file Check refuses is refused once (one
// rejected event), checked again quietly while the refusal lasts, and
// loaded once Check passes, with no change to the file. A refused file
// that is removed is forgotten; one whose content changes is judged on
// the new content at once.
func TestCheckRefusedRechecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	var allow atomic.Bool
	var asked atomic.Int32
	check := func(path string) error {
		asked.Add(1)
		if allow.Load() || filepath.Base(path) == "ok.word" {
			return nil
		}
		return errors.New("not yet")
	}
	l := &wordLoader{}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, Check: check}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rejections := func() int {
		n := 0
		for _, e := range f.m.History() {
			if e.Type == hotswap.EventRejected {
				n++
			}
		}
		return n
	}
	writeAtomic(t, dir, "greet.word", "fixed")
	waitFor(t, func() bool { return rejections() == 1 })
	waitFor(t, func() bool { return asked.Load() >= 3 }) // rechecked, twice at least
	if got := f.greet.Load()("x"); got != "hello, x" {
		t.Fatalf("a refused file serves: %q", got)
	}
	if n := rejections(); n != 1 {
		t.Errorf("%d rejected events while the refusal lasted, want 1", n)
	}
	allow.Store(true)
	waitFor(t, func() bool { return f.greet.Load()("x") == "fixed, x" })

	// Refused, then removed: forgotten (no load after the removal).
	allow.Store(false)
	writeAtomic(t, dir, "other.word", "other")
	waitFor(t, func() bool { return rejections() == 2 })
	if err := os.Remove(filepath.Join(dir, "other.word")); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "ok.word", "ok") // an event after the removal's, as a marker
	waitFor(t, func() bool { return f.greet.Load()("x") == "ok, x" })
	loads := l.loads.Load()
	allow.Store(true)
	// A negative observation: two recheck periods, had it been kept.
	time.Sleep(2 * patchdir.RecheckInterval)
	if got := l.loads.Load(); got != loads {
		t.Errorf("a refused file that was removed was loaded after all (%d loads, want %d)", got, loads)
	}
}
