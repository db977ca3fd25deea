package hotpatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestAttack3PatchDirMadeWritable: a patch directory that others may
// write is refused at Start; one that becomes so while the server runs
// (a chmod, or its symlink switched to such a directory) must not have
// its new files loaded either: whoever writes it chooses the code.
func TestAttack3PatchDirMadeWritable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An application's own check that accepts everything does not turn
	// the directory's check off.
	var asked atomic.Bool
	rt, err := New(Options{Dir: dir, StateDir: NoStateDir, Watch: patchdir.Options{Debounce: 10 * time.Millisecond,
		Check: func(string) error { asked.Store(true); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	f := MustRegister(rt, "t.F", func() int { return 1 })
	events, cancel := rt.Manager().Subscribe(64)
	defer cancel()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	place(t, dir, "evil.go", []byte("package patch\n\n//hotpatch:slot t.F\nfunc F() int { return 666 }\n"))
	timeout := time.After(20 * time.Second) // a hang detector
	for {
		select {
		case e := <-events:
			if e.Type == hotswap.EventApplied {
				t.Fatalf("a file of a directory others may write was applied: %+v (t.F serves %d)", e, f.Load()())
			}
			if e.Type != hotswap.EventRejected {
				continue
			}
			var me *bundle.ModeError
			if !errors.As(e.Err, &me) {
				t.Fatalf("rejected for another reason: %v", e.Err)
			}
			if got := f.Load()(); got != 1 {
				t.Fatalf("t.F serves %d, want the baseline 1", got)
			}
			if asked.Load() {
				t.Error("the application's check was asked about a file the directory's check refused")
			}
			return
		case <-timeout:
			t.Fatal("the new file was neither applied nor refused")
		}
	}
}

// TestAttack3StartAgainAfterRefusal: a Start refused for the patch
// directory's mode started nothing; once the mode is fixed, Start again
// works, rather than answering "already started" for a runtime that runs
// nothing.
func TestAttack3StartAgainAfterRefusal(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // whatever the umask
		t.Fatal(err)
	}
	rt, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	var me *bundle.ModeError
	if err := rt.Start(context.Background()); !errors.As(err, &me) {
		t.Fatalf("Start on a directory others may write: %v, want a *bundle.ModeError", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatalf("Start after the mode was fixed: %v", err)
	}
	if err := rt.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("third Start: %v, want ErrStarted", err)
	}
}
