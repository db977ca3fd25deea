package script_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// hostile are scripts that end the process they run in unless the loader
// refuses them or defuses what they call: each runs in a child process
// (TestHostileScriptsHostSurvives), which must live on and say what
// happened to it.
var hostile = []struct {
	name, src string
	want      string // in the child's output
}{
	{"finalizer-nil", `package patch

import "runtime"

//hotpatch:slot example.Greet
func Greet(n string) string {
	runtime.SetFinalizer(nil, nil)
	return n
}
`, `finalizer-nil.go:7:2: script: import refused by the import policy: runtime.SetFinalizer`},
	{"finalizer-twice", `package patch

import "runtime"

type T struct{ x int }

//hotpatch:slot example.Greet
func Greet(n string) string {
	t := &T{}
	set := runtime.SetFinalizer
	set(t, func(*T) {})
	set(t, func(*T) {})
	return n
}
`, `finalizer-twice.go:10:9: script: import refused by the import policy: runtime.SetFinalizer`},
	{"testing-main", `package patch

import "testing"

//hotpatch:slot example.Greet
func Greet(n string) string {
	testing.Main(func(a, b string) (bool, error) { return true, nil }, nil, nil, nil)
	return n
}
`, `testing-main.go:3:8: script: import refused by the import policy: "testing"`},
	{"map-recursion", `package patch

var ops map[string]func(int) int

func init() {
	ops = map[string]func(int) int{
		"a": func(n int) int { return ops["b"](n + 1) },
		"b": func(n int) int { return ops["a"](n + 1) },
	}
}

//hotpatch:slot example.Greet
func Greet(n string) string {
	ops["a"](0)
	return n
}
`, `map-recursion.go:7:33: script: recursion, which the interpreter cannot bound: the func literal held by ops calls itself through ops`},
	{"field-recursion", `package patch

type T struct{ fn func(int) int }

var t T

func init() { t.fn = func(n int) int { return t.fn(n + 1) } }

//hotpatch:slot example.Greet
func Greet(n string) string {
	t.fn(0)
	return n
}
`, `field-recursion.go:7:49: script: recursion`},
	{"loop-goroutines", `package patch

import (
	"fmt"
	"sync"
)

//hotpatch:slot example.Greet
func Greet(n string) string {
	var wg sync.WaitGroup
	res := make([]int, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = i * i
		}()
	}
	wg.Wait()
	return fmt.Sprint(res)
}
`, `called: [0 1 4 9 16]`},
	{"stdin", `package patch

import (
	"bufio"
	"fmt"
	"os"
)

//hotpatch:slot example.Greet
func Greet(n string) string {
	sc := bufio.NewScanner(os.Stdin)
	return fmt.Sprint("lines: ", sc.Scan())
}
`, `called: lines: false`},
	{"goroutine-panic", `package patch

//hotpatch:slot example.Greet
func Greet(n string) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m map[string]int
		m[n] = 1
	}()
	<-done
	return "after"
}
`, `reported: example.Greet: script goroutine-panic.go-`},
	// go f(x): the loader starts it as go hotpatchguard.Go(f)(x); the
	// untyped constant and nil still reach f's parameters as such.
	{"goroutine-named-func", `package patch

type job struct{ n int }

func work(id int64, j *job, done chan struct{}, tags ...string) {
	defer close(done)
	if j == nil && id == 3 && len(tags) == 2 {
		panic("worker broke")
	}
}

//hotpatch:slot example.Greet
func Greet(n string) string {
	done := make(chan struct{})
	go work(3, nil, done, "a", n)
	<-done
	return "after"
}
`, `reported: example.Greet: script goroutine-named-func.go-`},
	{"goroutine-method-value", `package patch

type counter struct{ m map[string]int }

func (c *counter) add(k string) { c.m[k]++ }

//hotpatch:slot example.Greet
func Greet(n string) string {
	c := &counter{}
	go c.add(n)
	return "after"
}
`, `reported: example.Greet: script goroutine-method-value.go-`},
	{"goroutine-timer", `package patch

import "time"

//hotpatch:slot example.Greet
func Greet(n string) string {
	time.AfterFunc(0, func() { panic("timer broke") })
	return "after"
}
`, `reported: example.Greet: script goroutine-timer.go-`},
	{"flag-exit", `package patch

import "flag"

//hotpatch:slot example.Greet
func Greet(n string) string {
	fs := flag.NewFlagSet("greet", flag.ExitOnError)
	fs.Parse([]string{"-no-such-flag"})
	return n
}
`, `called: panic: flag provided but not defined: -no-such-flag`},
	{"flag-exit-help", `package patch

import "flag"

//hotpatch:slot example.Greet
func Greet(n string) string {
	var fs flag.FlagSet
	fs.Init("greet", flag.ExitOnError)
	fs.Parse([]string{"-h"})
	return n
}
`, `called: panic: flag: help requested`},
}

// TestHostileScriptsHostSurvives loads and calls each of hostile in a
// child process and checks that the child lives to report the outcome.
func TestHostileScriptsHostSurvives(t *testing.T) {
	if name := os.Getenv("HOTPATCH_SCRIPT_HOSTILE_CHILD"); name != "" {
		hostileChild(t, name)
		return
	}
	t.Parallel()
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), hangDetector)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileScriptsHostSurvives$", "-test.count=1")
			// Under -race, a report ends the child with status 66; races
			// inside the interpreter itself (yaegi builds a goroutine's
			// closure frame unsynchronised: loop-goroutines) are checked
			// below instead, so that one in this module still fails.
			cmd.Env = append(os.Environ(), "HOTPATCH_SCRIPT_HOSTILE_CHILD="+c.name, "GORACE=exitcode=0")
			// The child's stdin is a pipe no one writes to or closes, as a
			// terminal would be.
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "survived") || !strings.Contains(string(out), c.want) {
				t.Errorf("child: %v, want the child to survive with %q\n%.3000s", err, c.want, out)
			}
			if where := raceOutsideInterpreter(string(out)); where != "" {
				t.Errorf("a data race outside the interpreter, at %s:\n%.6000s", where, out)
			}
		})
	}
}

// raceOutsideInterpreter returns the first frame of a racing access, in
// the race detector's reports in out, that is not yaegi's; "" if none.
func raceOutsideInterpreter(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasSuffix(l, ":") || !(strings.HasPrefix(l, "Write at") || strings.HasPrefix(l, "Read at") ||
			strings.HasPrefix(l, "Previous write at") || strings.HasPrefix(l, "Previous read at")) {
			continue
		}
		if i+1 < len(lines) {
			if frame := strings.TrimSpace(lines[i+1]); !strings.HasPrefix(frame, "github.com/traefik/yaegi/") {
				return frame
			}
		}
	}
	return ""
}

func hostileChild(t *testing.T, name string) {
	for _, c := range hostile {
		if c.name != name {
			continue
		}
		e := newEnv(t)
		e.stderr = nil
		reported := make(chan string, 1)
		report := func(slot string, err error) {
			select {
			case reported <- slot + ": " + err.Error():
			default:
			}
		}
		e.host.onReport(report)
		p, err := script.New(script.Options{Stderr: os.Stderr}).Load(context.Background(), e.host, e.write(c.name+".go", c.src))
		if err != nil {
			fmt.Println("refused:", err)
		} else {
			v := callRecover(t, func() { fmt.Println("called:", p.Impls["example.Greet"].(func(string) string)("x")) })
			if v != nil {
				fmt.Println("called: panic:", v)
			}
			if strings.HasPrefix(c.name, "goroutine-") { // the panic comes after the call returns
				select {
				case r := <-reported:
					fmt.Println("reported:", r)
				case <-time.After(hangDetector):
				}
			}
			_ = p.Retire(context.Background())
		}
		fmt.Println("survived")
		os.Exit(0) // before goleak looks: a child only reports
	}
	t.Fatalf("no hostile script %q", name)
}

func TestRaceOutsideInterpreter(t *testing.T) {
	yaegi := "WARNING: DATA RACE\n  Write at 0x00c00012d590 by goroutine 14:\n    github.com/traefik/yaegi/interp.getFunc.func1.1()\n\n  Previous read at 0x00c00012d590 by goroutine 12:\n    github.com/traefik/yaegi/interp.getFunc.func1()\n"
	if got := raceOutsideInterpreter(yaegi); got != "" {
		t.Errorf("a race inside yaegi reported as outside it: %q", got)
	}
	ours := yaegi + "WARNING: DATA RACE\n  Read at 0x00c000 by goroutine 3:\n    github.com/hotpatch-go/hotpatch/loader/script.(*version).wrap.func1()\n"
	if got := raceOutsideInterpreter(ours); !strings.Contains(got, "loader/script") {
		t.Errorf("a race in this module not found: %q", got)
	}
}
