package hotpatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
)

// TestStateDir starts runtimes twice on one patch directory: the second
// applies the first's patch again, from the state directory beside it,
// before Start returns.
func TestStateDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "patches")
	start := func(opts Options) (*Runtime, error) {
		opts.Dir = dir
		opts.Watch.Debounce = 10 * time.Millisecond
		rt, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
		return rt, rt.Start(context.Background())
	}
	rt, err := start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir + ".state"); err != nil || fi.Mode().Perm() != 0o700 || rt.Journal() == nil || rt.Journal().Dir() != dir+".state" {
		t.Fatalf("default state directory: %v, %v", fi, err)
	}
	src := filepath.Join(root, "g.go")
	os.WriteFile(src, []byte("package patch\n\n//hotpatch:slot t.Greet\nfunc Greet(n string) string { return \"hi, \" + n }\n"), 0o644)
	m := rt.Manager()
	p, err := m.Load(context.Background(), m.Loaders()[0], src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := rt.Journal().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	rt, err = start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := rt.Manager().Status(); len(st.Stack) != 1 || st.Stack[0].ID != p.ID {
		t.Fatalf("after a restart: stack %v, want %s", st.Stack, p.ID)
	}
	rt.Close(context.Background())

	rt, err = start(Options{StateDir: NoStateDir})
	if err != nil || rt.Journal() != nil || len(rt.Manager().Status().Stack) != 0 {
		t.Fatalf("NoStateDir: %v, journal %v, stack %v", err, rt.Journal(), rt.Manager().Status().Stack)
	}
	rt.Close(context.Background())

	unsafe := filepath.Join(root, "unsafe")
	os.Mkdir(unsafe, 0o700)
	os.Chmod(unsafe, 0o777)
	if _, err := start(Options{StateDir: unsafe}); !errors.Is(err, journal.ErrStateDirUnsafe) {
		t.Fatalf("Start with a world-writable state directory: %v", err)
	}
}
