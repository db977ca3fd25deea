package script_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib/unrestricted"
	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/loader/script"
)

// hangDetector is far above anything these tests wait for; reaching it
// means the code under test hangs.
const hangDetector = time.Minute

// loadBounded runs Load, failing the test if it never returns.
func loadBounded(t *testing.T, l *script.Loader, host hotswap.Host, path string) (hotswap.Patch, error) {
	t.Helper()
	type result struct {
		p   hotswap.Patch
		err error
	}
	ch := make(chan result, 1)
	go func() {
		p, err := l.Load(context.Background(), host, path)
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.p, r.err
	case <-time.After(hangDetector):
		t.Fatalf("Load(%s) did not return", path)
		return hotswap.Patch{}, nil
	}
}

func TestPackageMainIsNotRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var out syncBuffer
	l := e.loader(script.Options{Stdout: &out, EvalTimeout: 200 * time.Millisecond})
	for name, main := range map[string]string{
		"blocks.go":  "func main() {\n\tselect {}\n}\n",
		"loops.go":   "func main() {\n\tfor {\n\t}\n}\n",
		"prints.go":  "func main() {\n\tfmt.Println(\"main ran\")\n}\n",
		"recurse.go": "func main() {\n\tfmt.Println(Greet(\"main\"))\n}\n",
	} {
		src := "package main\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint()\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return \"main: \" + name }\n\n" + main
		p, err := loadBounded(t, l, e.host, e.write(name, src))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := p.Impls["example.Greet"].(func(string) string)("bob"); got != "main: bob" {
			t.Errorf("%s: Greet = %q", name, got)
		}
		if err := p.Retire(context.Background()); err != nil {
			t.Error(err)
		}
	}
	if strings.Contains(out.String(), "main") {
		t.Errorf("a script's main ran: %q", out.String())
	}

	// Top-level code of package main is still bounded.
	src := "package main\n\nfunc init() {\n\tselect {}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n\nfunc main() {}\n"
	if _, err := loadBounded(t, l, e.host, e.write("init.go", src)); !errors.Is(err, script.ErrTimeout) || !strings.Contains(err.Error(), "init.go:3:1:") {
		t.Errorf("blocking init in package main: %v", err)
	}
}

// gate is a host package through which a script tells the test what it did.
func gate(addrs chan<- string) interp.Exports {
	return interp.Exports{"example.com/gate/gate": {
		"Addr": reflect.ValueOf(func(a string) { addrs <- a }),
	}}
}

func TestRefusedScriptChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addrs := make(chan string, 1)
	l := e.loader(script.Options{Symbols: gate(addrs), EvalTimeout: 300 * time.Millisecond})
	src := `package patch

import (
	"example.com/gate"
	"net"
	"net/http"
)

func init() {
	http.HandleFunc("/refused-script", func(w http.ResponseWriter, r *http.Request) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	gate.Addr(ln.Addr().String())
	http.Serve(ln, nil)
}

//hotpatch:slot example.Greet
func Greet(n string) string { return n }
`
	_, err := loadBounded(t, l, e.host, e.write("server.go", src))
	if !errors.Is(err, script.ErrTimeout) {
		t.Fatalf("Load = %v, want ErrTimeout", err)
	}
	addr := <-addrs
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the refused script's listener on %s still accepts connections", addr)
	}
	if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest("GET", "/refused-script", nil)); pattern != "" {
		t.Errorf("the refused script's pattern %q is on http.DefaultServeMux", pattern)
	}
}

func TestRetiredScriptServerCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addrs := make(chan string, 1)
	l := e.loader(script.Options{Symbols: gate(addrs)})
	src := `package patch

import (
	"example.com/gate"
	"net"
	"net/http"
)

func init() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	gate.Addr(ln.Addr().String())
	go http.Serve(ln, nil)
}

//hotpatch:slot example.Greet
func Greet(n string) string { return n }
`
	p, err := loadBounded(t, l, e.host, e.write("server.go", src))
	if err != nil {
		t.Fatal(err)
	}
	addr := <-addrs
	if err := p.Retire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the retired script's listener on %s still accepts connections", addr)
	}
}

func TestProcessStateIsPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	src := `package patch

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func init() {
	io.EOF = nil
	time.Local = nil
	flag.String("refused-script-flag", "", "")
	flag.CommandLine = nil
	log.Default().SetOutput(io.Discard)
	log.SetPrefix("script: ")
	http.DefaultClient.Timeout = time.Nanosecond
	http.DefaultServeMux = nil
	os.Setenv("HOTPATCH_SCRIPT_TEST", "1")
	os.Args = nil
}

//hotpatch:slot example.Greet
func Greet(n string) string { return n }
`
	p, err := l.Load(context.Background(), e.host, e.write("globals.go", src))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Retire(context.Background())
	switch {
	case io.EOF == nil, time.Local == nil, flag.CommandLine == nil, http.DefaultServeMux == nil, len(os.Args) == 0:
		t.Error("a script assigned to a package variable of the server")
	case flag.Lookup("refused-script-flag") != nil:
		t.Error("a script defined a flag on the server's flag.CommandLine")
	case log.Writer() == io.Discard, log.Prefix() != "":
		t.Error("a script changed the server's standard logger")
	case http.DefaultClient.Timeout != 0:
		t.Error("a script changed http.DefaultClient")
	case os.Getenv("HOTPATCH_SCRIPT_TEST") != "":
		t.Error("a script changed the server's environment")
	}
}

func TestDenyByMember(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ imp, use, where string }{
		{"os", `os.StartProcess("/bin/sh", []string{"sh", "-c", "true"}, &os.ProcAttr{})`, "os.StartProcess"},
		{"os", `os.Exit(3)`, "os.Exit"},
		{"os", `os.Chdir("/")`, "os.Chdir"},
		{"os", `p, _ := os.FindProcess(os.Getpid()); _ = p`, "os.FindProcess"},
		{"runtime", `runtime.GOMAXPROCS(1)`, "runtime.GOMAXPROCS"},
		{"runtime", `runtime.Goexit()`, "runtime.Goexit"},
		{"net/http", `_ = &http.Server{}`, "http.Server"},
		{"expvar", `expvar.NewInt("x")`, "expvar.NewInt"},
		{"log/slog", `slog.SetDefault(nil)`, "slog.SetDefault"},
		{"runtime", `runtime.SetFinalizer(nil, nil)`, "runtime.SetFinalizer"},
		{"runtime", `var p runtime.Pinner; p.Pin(&n)`, "runtime.Pinner"},
		{"runtime", `runtime.StopTrace()`, "runtime.StopTrace"},
		{"runtime", `_ = runtime.CPUProfile()`, "runtime.CPUProfile"},
		{"os", `f := os.NewFile(1, "stdout"); f.Close()`, "os.NewFile"},
		{"reflect", `reflect.NewAt(reflect.TypeOf(""), reflect.ValueOf(&n).UnsafePointer()).Elem().SetString("x")`, "reflect.NewAt"},
		{"net/http/pprof", `pprof.Profile(nil, nil)`, "pprof.Profile"},
	} {
		src := "package patch\n\nimport \"" + c.imp + "\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\t" + c.use + "\n\treturn n\n}\n"
		_, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("deny.go", src))
		if !errors.Is(err, script.ErrImportRefused) || !strings.Contains(err.Error(), "deny.go:7:") || !strings.Contains(err.Error(), c.where) {
			t.Errorf("%s: %v", c.use, err)
		}
	}
	// Allowed by a Deny list without it, with its symbols from the host.
	l := e.loader(script.Options{Symbols: unrestricted.Symbols, Deny: []string{}})
	src := "package patch\n\nimport \"os\"\n\nvar start = os.StartProcess\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n"
	p, err := l.Load(context.Background(), e.host, e.write("allowed.go", src))
	if err != nil {
		t.Fatalf("os.StartProcess with unrestricted symbols and an empty Deny: %v", err)
	}
	_ = p.Retire(context.Background())
}

func TestSymbolsAddToStandardPackages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{Symbols: unrestricted.Symbols})
	// os.Getpid and os.ReadFile come from yaegi's stdlib; unrestricted
	// has only os.Exit and os.FindProcess, and used to replace it.
	src := "package patch\n\nimport (\n\t\"os\"\n\t\"strconv\"\n)\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\t_, err := os.ReadFile(\"/nonexistent\")\n\treturn n + strconv.Itoa(os.Getpid()) + strconv.FormatBool(err != nil)\n}\n"
	p, err := l.Load(context.Background(), e.host, e.write("merge.go", src))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Retire(context.Background())
	if got, want := p.Impls["example.Greet"].(func(string) string)("x"), "x"+strconv.Itoa(os.Getpid())+"true"; got != want {
		t.Errorf("Greet = %q, want %q", got, want)
	}
	// The member deny list still holds for what Symbols add.
	src = "package patch\n\nimport \"os\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { os.Exit(1); return n }\n"
	if _, err := l.Load(context.Background(), e.host, e.write("exit.go", src)); !errors.Is(err, script.ErrImportRefused) {
		t.Errorf("os.Exit through unrestricted symbols: %v", err)
	}
	// yaegi's own packages are not offered, even when Symbols has them.
	src = "package patch\n\nimport \"github.com/traefik/yaegi/stdlib/unrestricted\"\n\nvar _ = unrestricted.Symbols\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n"
	if _, err := l.Load(context.Background(), e.host, e.write("self.go", src)); !errors.Is(err, script.ErrNoSuchImport) {
		t.Errorf("yaegi's unrestricted package through Symbols: %v", err)
	}
}

const loopScript = `package patch

//hotpatch:slot example.Greet
func Greet(n string) string {
	go func() {
		for {
		}
	}()
	for {
	}
	return n
}
`

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reported := make(chan error, 4)
	e.host.onReport(func(slot string, err error) { reported <- err })
	l := e.loader(script.Options{CallTimeout: 50 * time.Millisecond})
	p, err := l.Load(context.Background(), e.host, e.write("loop.go", loopScript))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Retire(context.Background())
	greet := p.Impls["example.Greet"].(func(string) string)
	for i, want := range []error{script.ErrCallTimeout, script.ErrCallTimeout} { // the first call times out, the next finds it stopped
		v := callRecover(t, func() { greet("bob") })
		if err, _ := v.(error); !errors.Is(err, want) {
			t.Errorf("call %d panicked with %v, want %v", i, v, want)
		}
	}
	if err := <-reported; !errors.Is(err, script.ErrCallTimeout) || !strings.Contains(err.Error(), "example.Greet") {
		t.Errorf("reported %v", err)
	}
}

// callRecover runs f, bounded by the hang detector, and returns what it
// panicked with.
func callRecover(t *testing.T, f func()) any {
	t.Helper()
	ch := make(chan any, 1)
	go func() {
		defer func() { ch <- recover() }()
		f()
	}()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangDetector):
		t.Fatal("call did not end")
		return nil
	}
}

// enteredScript loops like loopScript, after telling the test it entered.
const enteredScript = `package patch

import "example.com/gate"

//hotpatch:slot example.Greet
func Greet(n string) string {
	gate.Addr("entered")
	go func() {
		for {
		}
	}()
	for {
	}
	return n
}
`

func TestRevertStopsRunningCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, err := hotswap.New(e.reg, hotswap.Options{RetireTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan string, 1)
	l := e.loader(script.Options{Symbols: gate(entered)})
	p, err := l.Load(context.Background(), m, e.write("loop.go", enteredScript))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	greet := e.greet.Load()
	ended := make(chan any, 1)
	go func() {
		defer func() { ended <- recover() }()
		greet("bob")
	}()
	<-entered
	if err := m.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { m.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
	case <-time.After(hangDetector):
		t.Fatal("Manager.Close did not return")
	}
	select {
	case v := <-ended:
		if err, _ := v.(error); !errors.Is(err, script.ErrStopped) {
			t.Errorf("the looping call ended with %v, want ErrStopped", v)
		}
	case <-time.After(hangDetector):
		t.Fatal("the looping call of a reverted patch still runs")
	}
	// TestMain's goleak check sees that the goroutine the script started
	// has ended too.
}

func TestLateCallIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	entered := make(chan string, 1)
	p, err := e.loader(script.Options{Symbols: gate(entered)}).Load(context.Background(), e.host, e.write("loop.go", enteredScript))
	if err != nil {
		t.Fatal(err)
	}
	greet := p.Impls["example.Greet"].(func(string) string)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Retire(ctx); err != nil {
		t.Fatal(err)
	}
	// A caller that loaded the func before the swap calls it after the
	// retirement, and the script loops: it is served, but within the
	// retire timeout.
	v := callRecover(t, func() { greet("late") })
	if err, _ := v.(error); !errors.Is(err, script.ErrCallTimeout) || !strings.Contains(err.Error(), "after the patch was retired") {
		t.Errorf("late looping call panicked with %v, want ErrCallTimeout", v)
	}
}

// TestRecursionHostSurvives loads runaway recursion in a child process,
// where it would be a fatal stack overflow, and checks that the child
// refuses it and lives on.
func TestRecursionHostSurvives(t *testing.T) {
	if os.Getenv("HOTPATCH_SCRIPT_RECURSION_CHILD") == "1" {
		e := newEnv(t)
		src := "package patch\n\ntype node struct{ next *node }\n\nfunc (n *node) depth() int { return 1 + n.walk() }\n\nfunc (n *node) walk() int { return n.depth() }\n\n//hotpatch:slot example.Greet\nfunc Greet(s string) string {\n\tvar n node\n\treturn s + string(rune('0'+n.depth()))\n}\n"
		p, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("rec.go", src))
		if errors.Is(err, script.ErrRecursion) {
			fmt.Println("refused:", err)
			os.Exit(0)
		}
		if err != nil {
			fmt.Println("other error:", err)
			os.Exit(3)
		}
		fmt.Println(p.Impls["example.Greet"].(func(string) string)("x")) // overflows the stack
		os.Exit(4)
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecursionHostSurvives$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOTPATCH_SCRIPT_RECURSION_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refused:") || !strings.Contains(string(out), "rec.go:5:") {
		t.Fatalf("child: %v\n%.2000s", err, out)
	}
}

func TestRecursionRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	for _, c := range []struct{ name, body, where string }{
		{"direct", "func f(n int) int { return f(n + 1) }\n", "rec.go:9:28: script: recursion, which the interpreter cannot bound: f calls itself"},
		{"mutual", "func f(n int) int { return g(n) }\n\nfunc g(n int) int { return f(n) }\n", "rec.go:9:28: script: recursion, which the interpreter cannot bound: f calls g at line 9, g calls f at line 11"},
		{"method", "type t struct{}\n\nfunc (x t) m() int { return x.m() }\n", "rec.go:11:31: script: recursion, which the interpreter cannot bound: t.m calls itself"},
		{"iface", "type i interface{ m() }\n\ntype t struct{ x i }\n\nfunc (v t) m() { v.x.m() }\n", "rec.go:13:22: script: recursion"},
		{"funcvar", "var f func(int) int\n\nfunc init() {\n\tf = func(n int) int { return f(n) }\n}\n", "rec.go:12:31: script: recursion, which the interpreter cannot bound: the func literal held by f calls itself"},
		{"stringer", "type t int\n\nfunc (v t) String() string { return fmt.Sprint(v) }\n", "rec.go:11:48: script: recursion, which the interpreter cannot bound: method t.String passes its receiver v to fmt.Sprint"},
		{"named func in a var", "var f func(int) int\n\nfunc g(n int) int { return f(n) }\n\nfunc init() { f = g }\n", "rec.go:11:28: script: recursion, which the interpreter cannot bound: g calls itself through f"},
		{"map of funcs", "var ops map[string]func(int) int\n\nfunc init() {\n\tops = map[string]func(int) int{\n\t\t\"a\": func(n int) int { return ops[\"b\"](n) },\n\t\t\"b\": func(n int) int { return n },\n\t}\n}\n", "rec.go:13:33: script: recursion, which the interpreter cannot bound: the func literal held by ops calls itself through ops"},
		{"map element", "var ops = map[string]func(int) int{}\n\nfunc init() { ops[\"a\"] = func(n int) int { return ops[\"a\"](n) } }\n", "rec.go:11:51: script: recursion, which the interpreter cannot bound: the func literal held by ops[\"a\"] calls itself through ops"},
		{"field", "type T struct{ fn func(int) int }\n\nvar t T\n\nfunc init() { t.fn = func(n int) int { return t.fn(n) } }\n", "rec.go:13:49: script: recursion, which the interpreter cannot bound: the func literal held by t.fn calls itself through fn"},
		{"field in a literal", "type T struct{ fn func(int) int }\n\nfunc mk() T {\n\tvar t T\n\tt = T{fn: func(n int) int { return t.fn(n) }}\n\treturn t\n}\n", "rec.go:13:37: script: recursion, which the interpreter cannot bound: the func literal held by fn calls itself through t"},
		{"method value in a field", "type T struct{ fn func() }\n\nfunc (x *T) m() { x.fn() }\n\nfunc init() {\n\tx := &T{}\n\tx.fn = x.m\n}\n", "rec.go:11:21: script: recursion, which the interpreter cannot bound: T.m calls itself through fn"},
		{"slice of funcs", "var hooks []func()\n\nfunc init() { hooks = append(hooks, func() { hooks[0]() }) }\n", "rec.go:11:46: script: recursion, which the interpreter cannot bound: the func literal held by hooks calls itself through hooks"},
	} {
		src := "package patch\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n" + c.body
		_, err := l.Load(context.Background(), e.host, e.write("rec.go", src))
		if !errors.Is(err, script.ErrRecursion) || !strings.Contains(err.Error(), c.where) {
			t.Errorf("%s: %v\nwant %s", c.name, err, c.where)
		}
		var le *loader.Error
		if !errors.As(err, &le) {
			t.Errorf("%s: not a positioned error", c.name)
		}
	}
	// Calls of host methods of the same name, and a String that formats a
	// field, are not recursion.
	src := "package patch\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\ntype who string\n\nfunc (w who) String() string {\n\tvar b strings.Builder\n\tb.WriteString(string(w))\n\treturn fmt.Sprint(string(w)) + b.String()\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return who(n).String() }\n"
	p, err := l.Load(context.Background(), e.host, e.write("ok.go", src))
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Retire(context.Background())
	// Nor are decorators, nor a table of funcs that do not call through
	// the table.
	src = `package patch

import "strings"

type handler func(string) string

func logged(h handler) handler { return func(s string) string { return "[" + h(s) + "]" } }

func base(s string) string { return "hi " + s }

var chain = logged(logged(base))

var ops = map[string]func(string) string{
	"upper": func(s string) string { return strings.ToUpper(s) },
	"lower": strings.ToLower,
}

//hotpatch:slot example.Greet
func Greet(n string) string { return chain(ops["upper"](n)) }
`
	p, err = l.Load(context.Background(), e.host, e.write("ok.go", src))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Impls["example.Greet"].(func(string) string)("bob"); got != "[[hi BOB]]" {
		t.Errorf("Greet = %q", got)
	}
	_ = p.Retire(context.Background())
}

func TestRetiredScriptGoroutinesEnd(t *testing.T) {
	// Not parallel: it counts goroutines.
	ignore := goleak.IgnoreCurrent()
	e := newEnv(t)
	func() {
		p, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("spin.go", `package patch

//hotpatch:slot example.Greet
func Greet(n string) string {
	go func() {
		for {
		}
	}()
	return n
}
`))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Impls["example.Greet"].(func(string) string)("bob"); got != "bob" {
			t.Fatalf("Greet = %q", got)
		}
		if err := p.Retire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}()
	// Once nothing holds the patch's funcs, a cleanup stops the
	// interpreter, and with it the goroutine the script left spinning.
	var err error
	for range 100 { // a hang detector, not a clock
		runtime.GC()
		if err = goleak.Find(ignore); err == nil {
			return
		}
	}
	t.Errorf("a retired script's goroutine still runs: %v", err)
}

// TestReplacedScriptGoroutinesEnd: the same through Manager.Load, Apply
// and a newer version that replaces it, as the patch directory applies
// scripts. The manager's per-load host reaches the applied patch, and so
// the version's funcs: a version that kept its host's reporter kept them
// reachable for ever, and the goroutine spun on.
func TestReplacedScriptGoroutinesEnd(t *testing.T) {
	// Not parallel: it counts goroutines.
	e := newEnv(t)
	m, err := hotswap.New(e.reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	l := e.loader(script.Options{})
	apply := func(name, src, replaces string) string {
		t.Helper()
		p, err := m.Load(context.Background(), l, e.write(name, src))
		if err != nil {
			t.Fatal(err)
		}
		p.Replaces = replaces
		if _, err := m.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	ignore := goleak.IgnoreCurrent()
	first := apply("spin.go", "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tgo func() {\n\t\tfor {\n\t\t}\n\t}()\n\treturn n\n}\n", "")
	if got := e.greet.Load()("bob"); got != "bob" {
		t.Fatalf("Greet = %q", got)
	}
	apply("calm.go", "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"calm \" + n }\n", first)
	if got := e.greet.Load()("bob"); got != "calm bob" {
		t.Fatalf("Greet = %q", got)
	}
	for range 100 { // a hang detector, not a clock
		runtime.GC()
		if err = goleak.Find(ignore); err == nil {
			return
		}
	}
	t.Errorf("a replaced script's goroutine still runs: %v", err)
}

func TestRefusedScriptGoroutinesEnd(t *testing.T) {
	// Not parallel: it counts goroutines.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEnv(t)
	// Its top-level code returns, but a goroutine it started spins, and
	// the file is refused afterwards (the func has the wrong type).
	src := "package patch\n\nfunc init() {\n\tgo func() {\n\t\tfor {\n\t\t}\n\t}()\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n int) string { return \"\" }\n"
	_, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("spin.go", src))
	if !errors.Is(err, hotswap.ErrTypeMismatch) {
		t.Fatalf("Load = %v, want a type mismatch", err)
	}
}

func TestGoexitInTopLevelCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{Deny: []string{}})
	src := "package patch\n\nimport \"runtime\"\n\nfunc init() {\n\truntime.Goexit()\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n"
	_, err := loadBounded(t, l, e.host, e.write("goexit.go", src))
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "runtime.Goexit") {
		t.Errorf("Load = %v, want a refusal naming runtime.Goexit", err)
	}
}

func TestStoppedScriptSleepEnds(t *testing.T) {
	// Not parallel: it counts goroutines.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEnv(t)
	l := e.loader(script.Options{EvalTimeout: 50 * time.Millisecond})

	// Top-level code asleep at the deadline.
	src := "package patch\n\nimport \"time\"\n\nvar x = func() int { time.Sleep(time.Hour); return 1 }()\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n"
	if _, err := loadBounded(t, l, e.host, e.write("sleep.go", src)); !errors.Is(err, script.ErrTimeout) {
		t.Errorf("Load = %v, want ErrTimeout", err)
	}
	// A worker goroutine of a refused script (the func has the wrong type).
	src = "package patch\n\nimport \"time\"\n\nfunc init() {\n\tgo func() {\n\t\tfor {\n\t\t\ttime.Sleep(time.Hour)\n\t\t}\n\t}()\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n int) string { return \"\" }\n"
	if _, err := loadBounded(t, l, e.host, e.write("worker.go", src)); !errors.Is(err, hotswap.ErrTypeMismatch) {
		t.Errorf("Load = %v, want a type mismatch", err)
	}
	// A call asleep when its patch is retired.
	entered := make(chan string, 1)
	src = "package patch\n\nimport (\n\t\"time\"\n\n\t\"example.com/gate\"\n)\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tgate.Addr(\"entered\")\n\ttime.Sleep(time.Hour)\n\treturn n\n}\n"
	p, err := e.loader(script.Options{Symbols: gate(entered)}).Load(context.Background(), e.host, e.write("call.go", src))
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan any, 1)
	go func() {
		defer func() { ended <- recover() }()
		p.Impls["example.Greet"].(func(string) string)("bob")
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Retire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Retire = %v, want the call stopped", err)
	}
	select {
	case v := <-ended:
		if err, _ := v.(error); !errors.Is(err, script.ErrStopped) {
			t.Errorf("the sleeping call ended with %v, want ErrStopped", v)
		}
	case <-time.After(hangDetector):
		t.Fatal("the sleeping call of a retired patch still sleeps")
	}
}
