package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testscript.Main(leakCheck{m}, map[string]func(){
		"hotpatch": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// leakCheck runs the tests, then checks that no goroutine outlived them.
type leakCheck struct{ m *testing.M }

func (l leakCheck) Run() int {
	code := l.m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			return 1
		}
	}
	return code
}

// TestScripts runs testdata/script/*.txtar. $ROOT is the hotpatch module's
// directory; the go command gets the caller's caches.
func TestScripts(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := moduleRoot(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("ROOT", root)
			for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS", "GONOSUMDB", "GOSUMDB", "GOTOOLCHAIN"} {
				e.Setenv(k, goEnv(t, k))
			}
			return nil
		},
	})
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

func goEnv(t testing.TB, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

func TestRunDispatch(t *testing.T) {
	var out strings.Builder
	if code := run(context.Background(), []string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "build") {
		t.Errorf("help: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &out); code != 2 || !strings.Contains(out.String(), "frobnicate") {
		t.Errorf("unknown command: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"patch", "build", "--kind", "native", "x.go"}, &out, &out); code != 2 || !strings.Contains(out.String(), "--baseline") {
		t.Errorf("native patch build without --baseline: exit %d\n%s", code, out.String())
	}
}

func TestPatchKind(t *testing.T) {
	for args, want := range map[string]string{
		"":                    DefaultPatchKind,
		"-o x.so f.go":        DefaultPatchKind,
		"--kind process f.go": "process",
		"-kind=native f.go":   "native",
		"--kind=process":      "process",
		"-- --kind process":   DefaultPatchKind,
	} {
		if got := patchKind(strings.Fields(args)); got != want {
			t.Errorf("patchKind(%q) = %q, want %q", args, got, want)
		}
	}
}
