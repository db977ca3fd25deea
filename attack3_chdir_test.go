package hotpatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestAttack3RelativeDirThenChdir: a relative Dir names the directory of
// the working directory at Start; a chdir afterwards (a server that
// serves files from elsewhere, a library that changes it) must not make
// the watch read its files from the new one, nor take the directory for
// gone and revert every patch.
func TestAttack3RelativeDirThenChdir(t *testing.T) {
	app, elsewhere := t.TempDir(), t.TempDir()
	t.Chdir(app)
	if err := os.Mkdir("patches", 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Dir: "patches", Watch: patchdir.Options{Debounce: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	f := MustRegister(rt, "t.F", func() int { return 1 })
	g := MustRegister(rt, "t.G", func() int { return 1 })
	events, cancel := rt.Manager().Subscribe(64)
	defer cancel()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(app, "patches")
	place(t, abs, "f.go", []byte("package patch\n\n//hotpatch:slot t.F\nfunc F() int { return 2 }\n"))
	timeout := time.After(20 * time.Second) // a hang detector
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case e := <-events:
				if e.Type == hotswap.EventReverted || e.Type == hotswap.EventRejected || e.Type == patchdir.EventWatchError {
					t.Fatalf("while waiting for %s: %v", what, e)
				}
			case <-timeout:
				t.Fatalf("no %s", what)
			}
		}
	}
	wait("f.go applied", func() bool { return f.Load()() == 2 })
	t.Chdir(elsewhere)
	place(t, abs, "g.go", []byte("package patch\n\n//hotpatch:slot t.G\nfunc G() int { return 2 }\n"))
	wait("g.go applied after the chdir", func() bool { return g.Load()() == 2 })
	if f.Load()() != 2 {
		t.Fatal("f.go's patch was reverted after the chdir")
	}
}
