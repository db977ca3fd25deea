package script_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"
	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

func TestLoadAndApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	src := "package patch\n\nimport \"strings\"\n\n// Greet shouts.\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return \"HELLO, \" + strings.ToUpper(name) }\n"
	path := e.write("greet.go", src)

	p, err := l.Load(context.Background(), e.host, path)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != loader.PatchID("greet.go", []byte(src)) || p.Kind != hotswap.KindScript || p.Source != path || p.Retire == nil {
		t.Errorf("patch = %+v", p)
	}
	if _, ok := p.Impls["example.Greet"].(func(string) string); !ok || len(p.Impls) != 1 {
		t.Fatalf("Impls = %#v, want one func(string) string for example.Greet", p.Impls)
	}

	m, err := hotswap.New(e.reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := e.greet.Load()("bob"); got != "HELLO, BOB" {
		t.Errorf("Greet = %q", got)
	}
	if err := m.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.greet.Load()("bob"); got != "hello, bob" {
		t.Errorf("after revert Greet = %q", got)
	}
}

func TestSameBytesSameID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	a, err := l.Load(context.Background(), e.host, e.write("greet.go", greetScript(`"a " + name`)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Load(context.Background(), e.host, e.write("greet.go", greetScript(`"a " + name`)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Load(context.Background(), e.host, e.write("greet.go", greetScript(`"c " + name`)))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.ID == c.ID {
		t.Errorf("IDs %s %s %s: want the first two equal, the third different", a.ID, b.ID, c.ID)
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	l := newEnv(t).loader(script.Options{})
	for path, want := range map[string]bool{
		"greet.go": true, "/p/greet.go": true, "greet_test.go": false, "greet.go.tmp": false,
		"greet.so": false, "greet.proc": false, "greet": false,
	} {
		if got := l.Match(path); got != want {
			t.Errorf("Match(%q) = %v, want %v", path, got, want)
		}
	}
	if l.Kind() != hotswap.KindScript {
		t.Errorf("Kind = %q", l.Kind())
	}
}

// GreetFunc is a named func type, as a program may give its slots.
type GreetFunc func(name string) string

func TestNamedSlotType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	named := registry.MustRegister(e.reg, "example.Named", GreetFunc(func(n string) string { return n }))
	l := e.loader(script.Options{})
	p, err := l.Load(context.Background(), e.host, e.write("named.go", "package patch\n\n//hotpatch:slot example.Named\nfunc Greet(name string) string { return \"named \" + name }\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hotswap.New(e.reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := named.Load()("x"); got != "named x" {
		t.Errorf("Named = %q", got)
	}
}

// Book and Discount stand for a host package that scripts import.
type Book struct {
	Title string
	Cents int64
}

func Discount(cents int64, pct int) int64 { return cents * int64(100-pct) / 100 }

var hostSymbols = interp.Exports{
	"example.com/shop/shop": {
		"Book":     reflect.ValueOf((*Book)(nil)),
		"Discount": reflect.ValueOf(Discount),
		"Copies":   reflect.ValueOf(func() int { return 3 }),
	},
}

func TestHostSymbols(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	price := registry.MustRegister(e.reg, "shop.Price", func(b Book, qty int) (int64, error) { return b.Cents * int64(qty), nil })
	l := e.loader(script.Options{Symbols: hostSymbols})
	p, err := l.Load(context.Background(), e.host, e.write("price.go", `package patch

import (
	"errors"

	"example.com/shop"
)

//hotpatch:slot shop.Price
func Price(b shop.Book, qty int) (int64, error) {
	if qty <= 0 {
		return 0, errors.New("no copies for " + b.Title)
	}
	return shop.Discount(b.Cents*int64(qty), 10), nil
}
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hotswap.New(e.reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got, err := price.Load()(Book{"Dune", 1000}, 3); got != 2700 || err != nil {
		t.Errorf("Price = %d, %v; want 2700, nil", got, err)
	}
	if _, err := price.Load()(Book{"Dune", 1000}, 0); err == nil || err.Error() != "no copies for Dune" {
		t.Errorf("Price error = %v", err)
	}
}

func TestScriptDefinedTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	registry.MustRegister(e.reg, "shop.Price", func(b Book, qty int) int64 { return b.Cents * int64(qty) })
	l := e.loader(script.Options{Symbols: hostSymbols})

	// A struct of the same shape is still another type.
	_, err := l.Load(context.Background(), e.host, e.write("own.go", `package patch

type Book struct {
	Title string
	Cents int64
}

//hotpatch:slot shop.Price
func Price(b Book, qty int) int64 { return b.Cents * int64(qty) }
`))
	var tm *hotswap.TypeMismatchError
	if !errors.As(err, &tm) || !strings.HasPrefix(err.Error(), filepath.Join(e.dir, "own.go")+":8:1: func Price: ") {
		t.Errorf("own struct type: %v, want a type mismatch at line 8", err)
	}

	// yaegi gives a named type without methods its underlying type, so a
	// script may spell string as its own type Name: the func it makes is a
	// func(string) string, which is what the slot calls.
	if _, err := l.Load(context.Background(), e.host, e.write("name.go", `package patch

type Name string

//hotpatch:slot example.Greet
func Greet(n Name) string { return "hi " + string(n) }
`)); err != nil {
		t.Errorf("own string type: %v", err)
	}
}

func TestVariadicSlot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	join := registry.MustRegister(e.reg, "text.Join", func(sep string, parts ...string) string { return strings.Join(parts, sep) })
	l := e.loader(script.Options{})
	p, err := l.Load(context.Background(), e.host, e.write("join.go", `package patch

import "strings"

//hotpatch:slot text.Join
func Join(sep string, parts ...string) string { return "[" + strings.Join(parts, sep) + "]" }
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hotswap.New(e.reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := join.Load()("-", "a", "b"); got != "[a-b]" {
		t.Errorf("Join = %q", got)
	}
}

// TestSandbox checks that each interpreter has its own stdio, logger and
// environment, both when yaegi sets them up (a script that imports slices)
// and when the loader does (one that does not).
func TestSandbox(t *testing.T) {
	t.Parallel()
	for _, extra := range []string{"", "\t\"slices\"\n"} {
		t.Run(fmt.Sprintf("generic=%v", extra != ""), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var stdout, stderr syncBuffer
			l := e.loader(script.Options{Stdout: &stdout, Stderr: &stderr})
			use := ""
			if extra != "" {
				use = "_ = slices.Contains([]string{}, name)\n\t"
			}
			p, err := l.Load(context.Background(), e.host, e.write("out.go", `package patch

import (
	"fmt"
	"log"
	"os"
`+extra+`)

type who string

func (w who) String() string { return "<" + string(w) + ">" }

func init() {
	fmt.Println("loaded, HOME empty:", os.Getenv("HOME") == "")
	os.Setenv("HOTPATCH_SANDBOX_TEST", "leak")
	log.SetFlags(0)
}

//hotpatch:slot example.Greet
func Greet(name string) string {
	`+use+`fmt.Println("greeting", who(name))
	log.Printf("greeted %s", name)
	return os.Getenv("HOTPATCH_SANDBOX_TEST")
}
`))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Impls["example.Greet"].(func(string) string)("bob"); got != "leak" {
				t.Errorf("the script's own environment: Getenv = %q, want %q", got, "leak")
			}
			if _, ok := os.LookupEnv("HOTPATCH_SANDBOX_TEST"); ok {
				t.Errorf("a script's Setenv changed the process environment")
			}
			if got, want := stdout.String(), "loaded, HOME empty: true\ngreeting <bob>\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if got, want := stderr.String(), "greeted bob\n"; got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	const okHead = "package patch\n\n"
	for _, tc := range []struct {
		name string
		src  string
		opts script.Options
		want error
		line int    // 0: the error concerns the whole file
		msg  string // in the message
	}{
		{name: "syntax error", src: greetScript(`"hi " + name +`), want: loader.ErrSyntax, line: 6, msg: "expected operand"},
		{name: "unknown slot", src: okHead + "//hotpatch:slot example.Greeet\nfunc Greet(name string) string { return name }\n", want: hotswap.ErrUnknownSlot, line: 3, msg: "example.Greeet"},
		{name: "wrong signature", src: okHead + "//hotpatch:slot example.Greet\nfunc Greet(n int) string { return \"\" }\n", want: hotswap.ErrTypeMismatch, line: 3,
			msg: "implementation has type func(int) string, slot has type func(string) string"},
		{name: "wrong result", src: okHead + "//hotpatch:slot example.Greet\nfunc Greet(n string) (string, error) { return n, nil }\n", want: hotswap.ErrTypeMismatch, line: 3, msg: "func(string) (string, error)"},
		{name: "refused import", src: okHead + "import \"os/exec\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return exec.Command(n).String() }\n", want: script.ErrImportRefused, line: 3, msg: `"os/exec"`},
		{name: "refused runtime/debug", src: okHead + "import \"runtime/debug\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { debug.FreeOSMemory(); return n }\n", want: script.ErrImportRefused, line: 3, msg: "runtime/debug"},
		{name: "refused unsafe", src: okHead + "import \"unsafe\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n + string(rune(unsafe.Sizeof(n))) }\n", want: script.ErrImportRefused, line: 3, msg: "unsafe"},
		{name: "unavailable import", src: okHead + "import \"github.com/nobody/nothing\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return nothing.X(n) }\n", want: script.ErrNoSuchImport, line: 3, msg: "github.com/nobody/nothing"},
		{name: "yaegi itself", src: okHead + "import \"github.com/traefik/yaegi/stdlib\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { _ = stdlib.Symbols; return n }\n", want: script.ErrNoSuchImport, line: 3, msg: "yaegi/stdlib"},
		{name: "panic in init", src: okHead + "func init() {\n\tpanic(\"boom\")\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n", want: nil, line: 4, msg: "top-level code panicked: panic: boom"},
		// yaegi points at the nil map's declaration rather than the assignment.
		{name: "panic in var initializer", src: okHead + "var table = build()\n\nfunc build() map[string]int {\n\tvar m map[string]int\n\tm[\"a\"] = 1\n\treturn m\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n", line: 6, msg: "assignment to entry in nil map"},
		{name: "endless loop in init", src: okHead + "func init() {\n\tfor {\n\t}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
			opts: script.Options{EvalTimeout: 200 * time.Millisecond}, want: script.ErrTimeout, line: 3, msg: "still ran after 200ms"},
		{name: "endless loop in var", src: okHead + "var x = spin()\n\nfunc spin() int {\n\tn := 0\n\tfor n >= 0 {\n\t\tn = n % 7\n\t}\n\treturn n\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
			opts: script.Options{EvalTimeout: 200 * time.Millisecond}, want: script.ErrTimeout, line: 3, msg: "did not finish in time"},
		{name: "empty file", src: "", want: loader.ErrEmpty, line: 1, msg: "empty file"},
		{name: "binary garbage", src: "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00", want: loader.ErrBinary, line: 1, msg: "binary file"},
		{name: "non-UTF-8", src: okHead + "// Grüße in Latin-1: Gr\xfc\xdfe\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n", want: loader.ErrNotUTF8, line: 3, msg: "invalid byte 0xfc"},
		{name: "over the size limit", src: greetScript(`"` + strings.Repeat("x", 2000) + `"`), opts: script.Options{MaxSize: 1024}, want: script.ErrTooLarge, msg: "the limit is 1024"},
		{name: "range over int", src: okHead + "//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\ts := \"\"\n\tfor i := range len(n) {\n\t\ts += n[i : i+1]\n\t}\n\treturn s\n}\n", want: script.ErrUnsupported, line: 6, msg: "range over an integer"},
		{name: "range over func", src: okHead + "func seq(yield func(int) bool) { yield(1) }\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tfor v := range seq {\n\t\t_ = v\n\t}\n\treturn n\n}\n", want: script.ErrUnsupported, line: 7, msg: "range over a func"},
		// The loader cannot see the type of shop.Copies(); yaegi panics, and
		// the error points at the range it suspects.
		{name: "range over an imported int", src: okHead + "import \"example.com/shop\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tfor i := range shop.Copies() {\n\t\tn += string(rune('0' + i))\n\t}\n\treturn n\n}\n",
			opts: script.Options{Symbols: hostSymbols}, want: script.ErrInterpreter, line: 7, msg: "panic: nil type (probably this range"},
		// yaegi would compile it for minutes, uninterruptibly.
		{name: "deep expression", src: okHead + "var x = " + strings.Repeat("1+", 20000) + "1\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
			opts: script.Options{EvalTimeout: 200 * time.Millisecond}, want: script.ErrUnsupported, line: 3, msg: "nested more than 1000 deep"},
		{name: "huge constant", src: okHead + "const big = 1 << 100000000\n\nvar x = big >> 99999999\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
			opts: script.Options{EvalTimeout: 200 * time.Millisecond}, want: script.ErrCompile, line: 3, msg: "invalid shift count 100000000"},
		{name: "min builtin", src: greetScript(`name[:min(len(name), 3)]`), want: script.ErrUnsupported, line: 5, msg: "the min builtin"},
		{name: "max builtin", src: greetScript(`name[:max(len(name), 3)]`), want: script.ErrUnsupported, line: 5, msg: "the max builtin"},
		{name: "clear builtin", src: okHead + "//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tm := map[string]int{n: 1}\n\tclear(m)\n\treturn n\n}\n", want: script.ErrUnsupported, line: 6, msg: "the clear builtin"},
		{name: "generic stdlib func", src: okHead + "import \"slices\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return slices.Max([]string{n, \"z\"}) }\n", want: script.ErrCompile, line: 6, msg: "undefined selector: slices.Max"},
		{name: "generic stdlib func yaegi cannot instantiate", src: okHead + "import \"slices\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\ts := []string{n, \"b\"}\n\tslices.Reverse(s)\n\treturn s[0]\n}\n",
			want: script.ErrCompile, line: 8, msg: "yaegi v0.16.1 cannot instantiate slices.Reverse here"},
		{name: "stdlib func newer than Go 1.22", src: okHead + "import \"strings\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tfor l := range strings.Lines(n) {\n\t\treturn l\n\t}\n\treturn n\n}\n", want: script.ErrCompile, line: 7, msg: "has no symbol Lines"},
		// yaegi gives script types no methods outside the interpreter:
		// errors.As into one panics at every call.
		{name: "errors.As into a script type", src: okHead + "import (\n\t\"errors\"\n\t\"fmt\"\n)\n\ntype MyErr struct{ Code int }\n\nfunc (e *MyErr) Error() string { return fmt.Sprint(e.Code) }\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tvar me *MyErr\n\tif errors.As(fmt.Errorf(\"w: %w\", &MyErr{7}), &me) {\n\t\treturn me.Error()\n\t}\n\treturn n\n}\n",
			want: script.ErrUnsupported, line: 15, msg: "errors.As into type *MyErr, which the script declares"},
		{name: "errors.As into a script value type, errors renamed", src: okHead + "import (\n\tstd \"errors\"\n)\n\ntype E struct{}\n\nfunc (E) Error() string { return \"e\" }\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tvar e E\n\tif std.As(nil, &e) {\n\t\treturn \"yes\"\n\t}\n\treturn n\n}\n",
			want: script.ErrUnsupported, line: 14, msg: "errors.As into type E, which the script declares"},
		{name: "undefined name", src: greetScript(`shout(name)`), want: script.ErrCompile, line: 5, msg: "undefined: shout"},
		{name: "redeclared", src: greetScript(`name`) + "\nfunc Greet(n string) string { return n }\n", want: loader.ErrSyntax, line: 8, msg: "Greet redeclared in this block; previous declaration at"},
		{name: "no directive", src: okHead + "func Greet(n string) string { return n }\n", want: loader.ErrNoDirective, line: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			path := e.write("bad.go", tc.src)
			p, err := e.loader(tc.opts).Load(context.Background(), e.host, path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", p)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %v", err, tc.want)
			}
			prefix := path + ":"
			if tc.line > 0 {
				prefix = fmt.Sprintf("%s:%d:", path, tc.line)
			}
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want prefix %q and %q in it", err, prefix, tc.msg)
			}
			if p.ID != "" || p.Impls != nil {
				t.Errorf("a failed Load returned a patch: %+v", p)
			}
		})
	}
}

func TestLoadRefusesTypedErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	_, err := l.Load(context.Background(), e.host, e.write("sig.go", "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n []byte) string { return string(n) }\n"))
	var tm *hotswap.TypeMismatchError
	if !errors.As(err, &tm) || tm.Slot != "example.Greet" || tm.Want != e.greet.Type() || tm.Got != reflect.TypeOf(func([]byte) string { return "" }) {
		t.Errorf("error = %v, want a *hotswap.TypeMismatchError with both types", err)
	}

	_, err = l.Load(context.Background(), e.host, e.write("panic.go", "package patch\n\nimport \"errors\"\n\nvar ErrBoom = errors.New(\"boom\")\n\nfunc init() { panic(ErrBoom) }\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n"))
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) || fmt.Sprint(pe.Value) != "boom" || len(pe.Stack) == 0 {
		t.Errorf("error = %v, want a *hotswap.PanicError with the value and a stack", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	if _, err := l.Load(context.Background(), e.host, filepath.Join(e.dir, "missing.go")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := filepath.Join(e.dir, "dir.go")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(context.Background(), e.host, dir); !errors.Is(err, script.ErrNotRegular) || !strings.HasPrefix(err.Error(), dir+": ") {
		t.Errorf("directory: %v", err)
	}
}

func TestLoadTenMegabytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.write("huge.go", greetScript(`"`+strings.Repeat("x", 10<<20)+`"`))
	_, err := e.loader(script.Options{}).Load(context.Background(), e.host, path)
	if !errors.Is(err, script.ErrTooLarge) || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), "the limit is 1048576") {
		t.Errorf("error = %v", err)
	}
}

func TestLoadHonoursContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := e.write("loop.go", "package patch\n\nfunc init() {\n\tfor {\n\t}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n")
	l := e.loader(script.Options{}) // the default limit is long; the context is shorter

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Load(ctx, e.host, path); !errors.Is(err, script.ErrTimeout) || !strings.Contains(err.Error(), "still ran after") {
		t.Errorf("deadline: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := l.Load(ctx, e.host, path); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), path) {
		t.Errorf("cancel: %v", err)
	}
}

func TestImportPolicy(t *testing.T) {
	t.Parallel()
	src := func(imp, use string) string {
		return "package patch\n\nimport \"" + imp + "\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { " + use + "; return n }\n"
	}
	strs := src("strings", "_ = strings.ToUpper")
	for _, tc := range []struct {
		name string
		opts script.Options
		src  string
		want error // nil: loads
	}{
		{"default allows stdlib", script.Options{}, strs, nil},
		{"default allows host", script.Options{Symbols: hostSymbols}, src("example.com/shop", "_ = shop.Discount"), nil},
		{"exact allow", script.Options{Allow: []string{"strings"}}, strs, nil},
		{"allow list excludes", script.Options{Allow: []string{"fmt"}}, strs, script.ErrImportRefused},
		{"empty allow list", script.Options{Allow: []string{}}, strs, script.ErrImportRefused},
		{"subtree allow", script.Options{Allow: []string{"net/..."}}, src("net/url", "_ = url.Parse"), nil},
		{"subtree allow matches its root", script.Options{Allow: []string{"net/..."}}, src("net", "_ = net.ParseIP"), nil},
		{"subtree is not a prefix", script.Options{Allow: []string{"net/..."}}, src("netip", "_ = 1"), script.ErrImportRefused},
		{"allow all", script.Options{Allow: []string{"..."}}, strs, nil},
		{"deny beats allow", script.Options{Allow: []string{"..."}, Deny: []string{"strings"}}, strs, script.ErrImportRefused},
		{"deny subtree", script.Options{Deny: []string{"example.com/..."}, Symbols: hostSymbols}, src("example.com/shop", "_ = shop.Discount"), script.ErrImportRefused},
		{"empty deny lifts the default", script.Options{Deny: []string{}}, src("runtime/debug", "_ = debug.SetGCPercent"), nil},
		{"empty deny cannot conjure symbols", script.Options{Deny: []string{}}, src("os/exec", "_ = exec.Command"), script.ErrNoSuchImport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, err := e.loader(tc.opts).Load(context.Background(), e.host, e.write("imp.go", tc.src))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOptionsAreCopied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deny := []string{"strings"}
	l := e.loader(script.Options{Deny: deny})
	deny[0] = "fmt"
	_, err := l.Load(context.Background(), e.host, e.write("s.go", "package patch\n\nimport \"strings\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return strings.ToUpper(n) }\n"))
	if !errors.Is(err, script.ErrImportRefused) {
		t.Errorf("changing the caller's Deny slice changed the loader: %v", err)
	}
}

func TestPanicAtCallTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type report struct {
		slot string
		err  error
	}
	var (
		mu      sync.Mutex
		reports []report
	)
	e.host.onReport(func(slot string, err error) {
		mu.Lock()
		reports = append(reports, report{slot, err})
		mu.Unlock()
	})
	l := e.loader(script.Options{Symbols: hostSymbols})
	p, err := l.Load(context.Background(), e.host, e.write("panic.go", `package patch

import "errors"

var ErrNoName = errors.New("no name")

//hotpatch:slot example.Greet
func Greet(name string) string {
	switch name {
	case "":
		panic(ErrNoName)
	case "index":
		return name[10:]
	case "string":
		panic("bad name " + name)
	}
	return "hi " + name
}
`))
	if err != nil {
		t.Fatal(err)
	}
	greet := p.Impls["example.Greet"].(func(string) string)
	call := func(name string) (v any) {
		defer func() { v = recover() }()
		greet(name)
		return nil
	}
	if v := call(""); fmt.Sprint(v) != "no name" {
		t.Errorf("panic value %T %v, want the script's error", v, v)
	} else if err, ok := v.(error); !ok || err.Error() != "no name" {
		t.Errorf("panic value %T is not the error the script panicked with", v)
	}
	if v := call("string"); v != "bad name string" {
		t.Errorf("panic value %#v, want the script's string", v)
	}
	if v := call("index"); v == nil || !strings.Contains(fmt.Sprint(v), "out of bounds") {
		t.Errorf("panic value %v, want the slice error", v)
	}
	if got := greet("bob"); got != "hi bob" {
		t.Errorf("after panics Greet = %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3", len(reports))
	}
	for _, r := range reports {
		var pe *hotswap.PanicError
		if r.slot != "example.Greet" || !errors.As(r.err, &pe) || len(pe.Stack) == 0 || !strings.Contains(r.err.Error(), p.ID) {
			t.Errorf("report %q: %v, want the slot, the patch ID and a *hotswap.PanicError", r.slot, r.err)
		}
	}
	if !strings.Contains(e.stderr.String(), "panic.go:9:9: panic: patch.Greet") {
		t.Errorf("the interpreter's stderr lacks the panic position: %q", e.stderr.String())
	}
}

// TestPanicRollsBack is the full path: a script that panics at call time is
// reported to the manager, whose rollback policy reverts it.
func TestPanicRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, err := hotswap.New(e.reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	events, cancel := m.Subscribe(16)
	defer cancel()
	l := e.loader(script.Options{})
	p, err := l.Load(context.Background(), m, e.write("bad.go", greetScript(`name[100:]`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		func() {
			defer func() { _ = recover() }()
			e.greet.Load()("bob")
		}()
	}
	for ev := range events {
		if ev.Type == hotswap.EventRolledBack && ev.PatchID == p.ID {
			break
		}
	}
	if got := e.greet.Load()("bob"); got != "hello, bob" {
		t.Errorf("after rollback Greet = %q", got)
	}
}

func TestRetireWaitsForCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	entered, release := make(chan struct{}), make(chan struct{})
	block := func() { entered <- struct{}{}; <-release }
	l := e.loader(script.Options{Symbols: interp.Exports{"example.com/gate/gate": {"Block": reflect.ValueOf(block)}}})
	p, err := l.Load(context.Background(), e.host, e.write("slow.go", "package patch\n\nimport \"example.com/gate\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { gate.Block(); return n }\n"))
	if err != nil {
		t.Fatal(err)
	}
	greet := p.Impls["example.Greet"].(func(string) string)
	done := make(chan string)
	go func() { done <- greet("bob") }()
	<-entered
	release <- struct{}{}
	if got := <-done; got != "bob" {
		t.Errorf("call = %q", got)
	}
	if err := p.Retire(context.Background()); err != nil {
		t.Errorf("Retire after the call = %v", err)
	}
	// A caller that loaded the func before the swap may call it after
	// retirement; it still works, since the interpreter is stopped only
	// when the last reference to its funcs goes.
	go func() { done <- greet("late") }()
	<-entered
	release <- struct{}{}
	if got := <-done; got != "late" {
		t.Errorf("call after Retire = %q", got)
	}

	// A call blocked in compiled code when retire's context ends: retire
	// returns then, and the call ends with ErrStopped when it comes back.
	p, err = l.Load(context.Background(), e.host, e.write("slow.go", "package patch\n\nimport \"example.com/gate\"\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { gate.Block(); return n }\n"))
	if err != nil {
		t.Fatal(err)
	}
	greet = p.Impls["example.Greet"].(func(string) string)
	stopped := make(chan any)
	go func() {
		defer func() { stopped <- recover() }()
		greet("bob")
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Retire(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 calls still in flight were stopped") {
		t.Errorf("Retire during a call = %v, want a deadline error", err)
	}
	release <- struct{}{}
	if v, _ := (<-stopped).(error); !errors.Is(v, script.ErrStopped) {
		t.Errorf("call across retire panicked with %v, want ErrStopped", v)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	p, err := l.Load(context.Background(), e.host, e.write("c.go", `package patch

import (
	"strconv"
	"strings"
)

//hotpatch:slot example.Greet
func Greet(name string) string {
	var b strings.Builder
	for i := 0; i < 3; i++ {
		b.WriteString(name + strconv.Itoa(i))
	}
	return b.String()
}
`))
	if err != nil {
		t.Fatal(err)
	}
	greet := p.Impls["example.Greet"].(func(string) string)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			name := string(rune('a' + g))
			for range 200 {
				if got, want := greet(name), name+"0"+name+"1"+name+"2"; got != want {
					errs <- fmt.Sprintf("Greet(%q) = %q, want %q", name, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestEvalGoroutineEnds(t *testing.T) {
	// Not parallel: it counts goroutines.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEnv(t)
	l := e.loader(script.Options{EvalTimeout: 50 * time.Millisecond})
	for _, src := range []string{
		"package patch\n\nfunc init() {\n\tfor {\n\t}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
		"package patch\n\nfunc init() {\n\tselect {}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
		"package patch\n\nfunc init() {\n\tc := make(chan int)\n\t<-c\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n",
	} {
		if _, err := l.Load(context.Background(), e.host, e.write("loop.go", src)); !errors.Is(err, script.ErrTimeout) {
			t.Errorf("Load = %v, want ErrTimeout", err)
		}
	}
}

// TestClosedLoader: a closed loader refuses loads with an error that
// matches hotswap.ErrClosed, as every kind's does.
func TestClosedLoader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(t.Context(), e.host, e.write("greet.go", greetScript(`"hi " + name`))); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Load after Close = %v, want hotswap.ErrClosed", err)
	}
}
