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
		Cmds:                scriptCmds(),
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

// TestHelpPaths: "hotpatch help CMD" and "hotpatch CMD -h" print the same
// help to standard output and exit 0; a usage error goes to standard
// error, with the synopsis, and exits 2; nothing is printed twice.
func TestHelpPaths(t *testing.T) {
	call := func(args ...string) (code int, stdout, stderr string) {
		var o, e strings.Builder
		code = run(context.Background(), args, &o, &e)
		return code, o.String(), e.String()
	}
	for _, name := range []string{"build", "patch build"} {
		code, help, errOut := call(append([]string{"help"}, strings.Fields(name)...)...)
		if code != 0 || errOut != "" || !strings.HasPrefix(help, "usage: hotpatch "+name) || !strings.Contains(help, "\nflags:\n") {
			t.Errorf("help %s: exit %d, stderr %q, stdout:\n%s", name, code, errOut, help)
		}
		for _, h := range []string{"-h", "--help", "-help"} {
			code, out, errOut := call(append(strings.Fields(name), h)...)
			if code != 0 || out != help || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q, stdout differs from help %s: %v", name, h, code, errOut, name, out != help)
			}
		}
		// -h among other arguments is still help.
		if code, out, _ := call(append(strings.Fields(name), "-o", "x", "-h")...); code != 0 || out != help {
			t.Errorf("%s -o x -h: exit %d", name, code)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if code, out, errOut := call(args...); code != 0 || errOut != "" || !strings.Contains(out, "patch build") || !strings.Contains(out, "hotpatch help <command>") {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
		}
	}
	for _, tt := range []struct {
		args []string
		want string // in stderr
	}{
		{nil, "usage: hotpatch <command>"},
		{[]string{"frobnicate"}, `no command "frobnicate"`},
		{[]string{"patch"}, `no command "patch"`},
		{[]string{"patch", "bulid"}, `no command "patch bulid"`},
		{[]string{"help", "frobnicate"}, `no command "frobnicate"`},
		{[]string{"patch", "build", "--kind", "native", "x.go"}, "--kind native needs --baseline BIN"},
		{[]string{"patch", "build", "x.go"}, "--kind native needs --baseline BIN"},
		{[]string{"patch", "build", "--kind", "process"}, "want one FILE.go, have 0"},
		{[]string{"patch", "build", "--kind", "process", "--baseline", "b", "x.go"}, "--baseline is for --kind native, not process"},
		{[]string{"patch", "build", "--kind", "native", "--module-root", "r", "--baseline", "b", "x.go"}, "--module-root is for --kind process, not native"},
		{[]string{"patch", "build", "--kind", "bogus", "x.go"}, `unknown kind "bogus" (available: native, process)`},
		{[]string{"patch", "build", "--nosuch", "x.go"}, "flag provided but not defined: -nosuch"},
		{[]string{"patch", "build", "--baseline"}, "flag needs an argument: -baseline"},
		{[]string{"build", "-o"}, "flag needs an argument: -o"},
		{[]string{"build", "a", "b"}, `the package "a" must come last`},
	} {
		code, out, errOut := call(tt.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "usage: hotpatch") {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q with the usage on stderr", tt.args, code, out, errOut, tt.want)
		}
		if strings.Count(errOut, "usage: ") != 1 {
			t.Errorf("%q: the usage is printed %d times:\n%s", tt.args, strings.Count(errOut, "usage: "), errOut)
		}
	}
}
