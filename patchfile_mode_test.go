package hotpatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestPatchFileWritableByOthers: a patch file that group or others may
// write, in a directory only its owner may write, is refused: who may
// write the file chooses the code as surely as who may write the
// directory. The version serving keeps serving; once the file is made
// 0644 (its content unchanged), it is applied.
func TestPatchFileWritableByOthers(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Dir: dir, StateDir: NoStateDir, Watch: patchdir.Options{Debounce: 10 * time.Millisecond}})
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
	src := []byte("package patch\n\n//hotpatch:slot t.F\nfunc F() int { return 2 }\n")
	tmp := filepath.Join(t.TempDir(), "f.go")
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "f.go")); err != nil {
		t.Fatal(err)
	}
	want := hotswap.EventRejected
	timeout := time.After(20 * time.Second) // a hang detector
	for {
		select {
		case e := <-events:
			if e.Type != hotswap.EventApplied && e.Type != hotswap.EventRejected {
				continue
			}
			if e.Type != want {
				t.Fatalf("%s event, want %s: %+v", e.Type, want, e)
			}
			if want == hotswap.EventApplied {
				if got := f.Load()(); got != 2 {
					t.Errorf("t.F serves %d after the 0644 file, want 2", got)
				}
				return
			}
			var me *bundle.ModeError
			if !errors.As(e.Err, &me) || !strings.Contains(e.Err.Error(), "patch file") || !strings.Contains(e.Err.Error(), "chmod go-w") {
				t.Fatalf("rejected for another reason: %v", e.Err)
			}
			if got := f.Load()(); got != 1 {
				t.Fatalf("t.F serves %d, want the baseline 1", got)
			}
			if !strings.Contains(e.Err.Error(), "loads it once fixed") {
				t.Errorf("the refusal does not say how to have the file loaded once fixed: %v", e.Err)
			}
			// Fixed in place, the content unchanged: loaded, with no
			// second refusal in between.
			want = hotswap.EventApplied
			if err := os.Chmod(filepath.Join(dir, "f.go"), 0o644); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("no %s event", want)
		}
	}
}
