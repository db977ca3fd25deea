//go:build linux

package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// TestLongTempDir: a $TMPDIR too long for unix socket paths does not keep
// plugins from starting (sockets go to a shorter directory).
func TestLongTempDir(t *testing.T) { // not parallel: it sets TMPDIR
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", long)
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	if got := e.s.greet.Load()("x"); got != "hello v1, x" {
		t.Fatalf("Greet = %q", got)
	}
}

// TestNotAPlugin: an executable that exits without a handshake (a .proc
// linked to /bin/true) is refused with what happened.
func TestNotAPlugin(t *testing.T) {
	t.Parallel()
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Skip("no /bin/true")
	}
	p := filepath.Join(t.TempDir(), "true.proc")
	if err := os.Symlink(truePath, p); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{})
	_, err = e.l.Load(context.Background(), e.mgr, p)
	if !errors.Is(err, ErrStart) || strings.Contains(err.Error(), "Unrecognized remote plugin message") ||
		!strings.Contains(err.Error(), "exited (exit status 0) before the handshake, without printing a handshake line") {
		t.Fatalf("Load = %v", err)
	}
}

// TestPatchFileReads: a FIFO under a .proc name does not block Load, and a
// file over the size limit is refused before it is read.
func TestPatchFileReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxFileSize: 4096})
	fifo := filepath.Join(t.TempDir(), "fifo.proc")
	if err := syscall.Mkfifo(fifo, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, 30*time.Second, "Load of a FIFO", func() { _, err = e.l.Load(context.Background(), e.mgr, fifo) })
	if !errors.Is(err, ErrNotExecutable) || !errors.Is(err, patchfile.ErrNotRegular) {
		t.Fatalf("Load of a FIFO = %v", err)
	}
	_, err = e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-v1.proc"))
	if !errors.Is(err, patchfile.ErrTooLarge) {
		t.Fatalf("Load over MaxFileSize = %v", err)
	}
}
