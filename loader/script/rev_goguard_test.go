package script_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// goCases are scripts whose Greet starts a goroutine that panics in a
// way the guard missed: a call that spreads a slice, and the builtins
// panic and close (of a closed channel). Each panic ended the host.
var goCases = map[string]string{
	"spread": `func boom(prefix string, xs ...string) { panic(prefix + xs[1]) }

//hotpatch:slot example.Greet
func Greet(n string) string {
	xs := []string{"a", n}
	go boom("spread ", xs...)
	return "started"
}`,
	"panic": `//hotpatch:slot example.Greet
func Greet(n string) string {
	go panic("builtin " + n)
	return "started"
}`,
	"close": `//hotpatch:slot example.Greet
func Greet(n string) string {
	ch := make(chan int)
	close(ch)
	go close(ch)
	return "started"
}`,
}

// TestGoGuardSpreadAndBuiltins: a goroutine started with a spread slice
// (go f(a, xs...)) or as a builtin that can panic (go panic(v), go
// close(ch)) is guarded like the others: its panic is reported, the
// process goes on. Each case runs in a child process, which such a
// panic ended.
func TestGoGuardSpreadAndBuiltins(t *testing.T) {
	if name := os.Getenv("HOTPATCH_TEST_GOCASE"); name != "" {
		goCaseChild(t, name)
		return
	}
	t.Parallel()
	for name := range goCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang detector
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGoGuardSpreadAndBuiltins$", "-test.count=1")
			cmd.Env = append(os.Environ(), "HOTPATCH_TEST_GOCASE="+name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the goroutine's panic ended the process: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "reported: ") {
				t.Errorf("no report of the goroutine's panic:\n%s", out)
			}
		})
	}
}

// goCaseChild loads the script of case name, calls Greet and waits for
// the report of its goroutine's panic.
func goCaseChild(t *testing.T, name string) {
	e := newEnv(t)
	reported := make(chan error, 1)
	e.host.onReport(func(slot string, err error) {
		select {
		case reported <- err:
		default:
		}
	})
	p, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write(name+".go", "package patch\n\n"+goCases[name]+"\n"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer p.Retire(context.Background())
	if got := p.Impls["example.Greet"].(func(string) string)("x"); got != "started" {
		t.Fatalf("Greet = %q", got)
	}
	select {
	case err := <-reported:
		t.Logf("reported: %v", err)
		os.Stdout.WriteString("reported: " + err.Error() + "\n")
	case <-time.After(time.Minute): // hang detector
		t.Fatalf("no report; stderr: %s", e.stderr.String())
	}
}
