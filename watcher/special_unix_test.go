//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package watcher_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// TestSpecialFiles puts a FIFO and a link to an endless device where
// patches are expected: neither may be reported, and neither may hang
// the watcher (opening a FIFO for reading waits for a writer; reading
// /dev/zero never ends).
func TestSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.go"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.go")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "greet.go"), "v1")
	w := start(t, dir, watcher.Options{Debounce: fast})
	got := barrier(t, w, dir)
	if len(got) != 1 {
		t.Fatalf("got %s, want greet.go only", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "greet.go", "v1")
}

// TestUnreadable makes an applied file unreadable: it is removed, and
// the reason is reported on Errors.
func TestUnreadable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "greet.go")
	write(t, path, "v1")
	w := start(t, dir, watcher.Options{Debounce: fast})
	is(t, next(t, w), dir, watcher.Apply, "greet.go", "v1")

	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	is(t, next(t, w), dir, watcher.Remove, "greet.go", "")
	select {
	case err := <-w.Errors():
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Errors: %v, want a permission error", err)
		}
	default:
		t.Error("nothing on Errors")
	}
}
