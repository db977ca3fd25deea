package hotpatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestAttackDefaultStateDir: the default state directory is beside the
// patch directory however Dir is spelled, and stays there after a chdir.
func TestAttackDefaultStateDir(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, "app")
	if err := os.MkdirAll(filepath.Join(app, "patches"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(app)
	for dir, want := range map[string]string{
		"patches":                         filepath.Join(app, "patches.state"),
		"patches/":                        filepath.Join(app, "patches.state"),
		"./patches//":                     filepath.Join(app, "patches.state"),
		".":                               filepath.Join(root, "app.state"),
		"./":                              filepath.Join(root, "app.state"),
		filepath.Join(app, "p", "") + "/": filepath.Join(app, "p.state"),
	} {
		rt, err := New(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := rt.stateDir(); got != want {
			t.Errorf("Dir %q: default state directory %q, want %q", dir, got, want)
		}
	}
}

// TestAttackStateDirWithoutDir: a state directory without a patch
// directory records the patches applied through the manager and applies
// them again at the next start.
func TestAttackStateDirWithoutDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	state := filepath.Join(root, "state")
	start := func() *Runtime {
		rt, err := New(Options{StateDir: state})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return rt
	}
	rt := start()
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
	rt.Close(context.Background())
	os.Remove(src) // applied from its kept copy
	rt = start()
	if st := rt.Manager().Status(); len(st.Stack) != 1 || st.Stack[0].ID != p.ID {
		t.Fatalf("after a restart: stack %v, want %s", st.Stack, p.ID)
	}
}
