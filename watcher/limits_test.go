package watcher_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// TestTooLarge: a huge (sparse) file is skipped from its size, without
// being read, so the file beside it is reported at once; a file that
// grows past the limit is skipped, and applied again once it fits.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.go")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil { // sparse: 4 GiB that take no room
		f.Close()
		t.Skipf("cannot make a sparse file here: %v", err)
	}
	f.Close()
	write(t, filepath.Join(dir, "greet.go"), "v1")
	w := start(t, dir, watcher.Options{Debounce: fast, Match: goFiles})

	got := byName(barrier(t, w, dir))
	if len(got) != 2 {
		t.Fatalf("got %s, want big.go skipped and greet.go applied", describeAll(got))
	}
	if ev := got[0]; ev.Op != watcher.Skip || ev.Name != "big.go" || ev.Size != 4<<30 || !errors.Is(ev.Err, watcher.ErrTooLarge) {
		t.Errorf("got %s, want Skip big.go, too large", describe(ev))
	}
	var se *watcher.SizeError
	if !errors.As(got[0].Err, &se) || se.Limit != watcher.DefaultMaxSize || se.Path != big {
		t.Errorf("Err = %#v, want a *SizeError with the default limit", got[0].Err)
	}
	is(t, got[1], dir, watcher.Apply, "greet.go", "v1")

	// Shrunk to fit: applied.
	write(t, big, "small now")
	is(t, next(t, w), dir, watcher.Apply, "big.go", "small now")
}

// TestGrowsTooLarge: with a small limit, an applied file that grows past
// it is skipped (the reader drops it), and applied again when it fits.
func TestGrowsTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "greet.go")
	write(t, path, "0123")
	w := start(t, dir, watcher.Options{Debounce: fast, MaxSize: 8})
	is(t, next(t, w), dir, watcher.Apply, "greet.go", "0123")

	write(t, path, "0123456789")
	ev := next(t, w)
	if ev.Op != watcher.Skip || ev.Name != "greet.go" || ev.Size != 10 || !errors.Is(ev.Err, watcher.ErrTooLarge) {
		t.Fatalf("got %s, want Skip greet.go of 10 bytes", describe(ev))
	}
	write(t, path, "012345")
	is(t, next(t, w), dir, watcher.Apply, "greet.go", "012345")
}

// TestHardLinkEditedElsewhere: a patch file hard-linked to a file outside
// the directory and edited there changes with no event in the directory;
// the recheck notices it.
func TestHardLinkEditedElsewhere(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	orig := filepath.Join(outside, "greet.go")
	write(t, orig, "v1")
	if err := os.Link(orig, filepath.Join(dir, "greet.go")); err != nil {
		t.Skipf("hard links: %v", err)
	}
	w := start(t, dir, watcher.Options{Debounce: fast, Recheck: 2 * fast})
	is(t, next(t, w), dir, watcher.Apply, "greet.go", "v1")

	f, err := os.OpenFile(orig, os.O_WRONLY|os.O_TRUNC, 0) // in place: same inode
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("v2, edited elsewhere"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	is(t, next(t, w), dir, watcher.Apply, "greet.go", "v2, edited elsewhere")
}

// TestHardLinkTwoNames: two names of one inode in the directory agree
// after one is edited in place and then removed.
func TestHardLinkTwoNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.go"), filepath.Join(dir, "b.go")
	write(t, a, "v1")
	if err := os.Link(a, b); err != nil {
		t.Skipf("hard links: %v", err)
	}
	w := start(t, dir, watcher.Options{Debounce: fast, Recheck: 2 * fast})
	v := view{}.apply(next(t, w), next(t, w))

	write(t, a, "v2") // in place: b.go changes too, with no event of its own
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	for v["b.go"] != sumOf("v2") || len(v) != 1 {
		v.apply(next(t, w))
	}
}

// TestSynced: the first scan ends with Synced, also when it finds nothing.
func TestSynced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := start(t, dir, watcher.Options{Debounce: fast})
	if ev := nextAny(t, w); ev.Op != watcher.Synced || ev.Name != "" {
		t.Fatalf("got %s, want Synced", describe(ev))
	}
	write(t, filepath.Join(dir, "a.go"), "a")
	is(t, nextAny(t, w), dir, watcher.Apply, "a.go", "a")
}
