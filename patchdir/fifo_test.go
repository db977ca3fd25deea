//go:build unix

package patchdir_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestWatchFIFOSwappedIn replaces a file by a FIFO while it loads: the
// glue's second look at the file must not block on it, later files still
// apply and Close returns.
func TestWatchFIFOSwappedIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	l := newGatedLoader("greet.word")
	t.Cleanup(func() { l.open("greet.word"); l.running.Wait() })
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(dir, "greet.word")
	writeAtomic(t, dir, "greet.word", "one")
	<-l.entered
	// While the load runs, the file becomes a FIFO with no writer.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	l.open("greet.word") // the load returns; the glue looks at the file again
	writeAtomic(t, dir, "other.word", "two")
	waitFor(t, func() bool { return f.greet.Load()("x") == "two, x" })
	within(t, "Close", func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
