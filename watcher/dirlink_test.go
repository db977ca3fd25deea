package watcher_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// switchLink points the symlink at link to target, atomically (a new link
// renamed over the old one), as deployment tools switch a "current" link.
func switchLink(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".new"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// TestDirLinkSwitched: when the watched directory is a symlink switched to
// another directory, the recheck notices: the files of the new directory
// are reported (only those that differ), those only in the old one are
// removed, then Resumed, and the new directory is watched from then on.
func TestDirLinkSwitched(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(a, "same.go"), "same")
	write(t, filepath.Join(a, "old.go"), "old")
	write(t, filepath.Join(b, "same.go"), "same")
	write(t, filepath.Join(b, "new.go"), "new")
	link := filepath.Join(root, "current")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	w := start(t, link, watcher.Options{Debounce: fast, Recheck: 2 * fast})
	v := view{}.apply(next(t, w), next(t, w))
	if len(v) != 2 {
		t.Fatalf("initial: %v", v)
	}

	switchLink(t, link, b)
	var got []watcher.Event
	for {
		ev := nextAny(t, w)
		if ev.Op == watcher.Resumed {
			break
		}
		if ev.Op == watcher.Synced {
			continue // of the first scan
		}
		got = append(got, ev)
	}
	if len(got) != 2 {
		t.Fatalf("after the switch: %s, want new.go applied and old.go removed", describeAll(got))
	}
	for _, ev := range got {
		switch ev.Name {
		case "new.go":
			is(t, ev, link, watcher.Apply, "new.go", "new")
		case "old.go":
			is(t, ev, link, watcher.Remove, "old.go", "")
		default:
			t.Fatalf("unexpected %s", describe(ev))
		}
	}
	// The new directory is watched; the old one no longer.
	write(t, filepath.Join(a, "stale.go"), "stale")
	write(t, filepath.Join(b, "new.go"), "new2")
	is(t, next(t, w), link, watcher.Apply, "new.go", "new2")
	none(t, barrier(t, w, b))
}

// TestDirLinkRemovedAndBack: when the symlink that names the watched
// directory is removed, the directory counts as gone (ErrDirRemoved,
// every file removed), though the directory it pointed to is still
// there; when the link comes back, even to the same directory, its files
// are reported again.
func TestDirLinkRemovedAndBack(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a := filepath.Join(root, "a")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(a, "greet.go"), "v1")
	link := filepath.Join(root, "current")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	w := start(t, link, watcher.Options{Debounce: fast, Recheck: 2 * fast})
	is(t, next(t, w), link, watcher.Apply, "greet.go", "v1")

	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	is(t, next(t, w), link, watcher.Remove, "greet.go", "")
	select {
	case err := <-w.Errors():
		if !errors.Is(err, watcher.ErrDirRemoved) {
			t.Errorf("Errors: %v, want ErrDirRemoved", err)
		}
	case <-time.After(patience):
		t.Fatal("no ErrDirRemoved on Errors")
	}
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	is(t, next(t, w), link, watcher.Apply, "greet.go", "v1")
	if ev := nextAny(t, w); ev.Op != watcher.Resumed {
		t.Fatalf("got %s, want Resumed", describe(ev))
	}
}
