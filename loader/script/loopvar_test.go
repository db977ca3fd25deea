package script_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestLoopVariablePerIteration checks that func literals in a loop see the
// variable of their own iteration, as in Go 1.22 and later, although
// yaegi v0.16.1 shares one variable across iterations.
func TestLoopVariablePerIteration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.loader(script.Options{})
	src := `package patch

import "fmt"

//hotpatch:slot example.Greet
func Greet(n string) string {
	var fs []func() int
	for i := 0; i < 3; i++ {
		fs = append(fs, func() int { return i })
	}
	var gs []func() string
	for k, v := range []string{"a", "b"} { gs = append(gs, func() string { return fmt.Sprint(k, v) }) }
	for _, v := range []string{"c"} {
		v := v + "!" // the body's own v, legal in Go 1.22
		gs = append(gs, func() string { return v })
	}
	out := ""
	for _, f := range fs {
		out += fmt.Sprint(f())
	}
	for _, g := range gs {
		out += g()
	}
	return out
}
`
	p, err := l.Load(context.Background(), e.host, e.write("loop.go", src))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Retire(context.Background())
	if got := p.Impls["example.Greet"].(func(string) string)("x"); got != "0120a1bc!" {
		t.Errorf("Greet = %q, want %q", got, "0120a1bc!")
	}

	// Positions after the edits stay right.
	src = "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tvar fs []func() string\n\tfor _, c := range n { fs = append(fs, func() string { return string(c) })\n\t\tif c == 120 { undefinedFunc() }\n\t}\n\treturn fs[0]()\n}\n\nvar _ = Greet(\"x\")\n"
	_, err = l.Load(context.Background(), e.host, e.write("pos.go", src))
	if !errors.Is(err, script.ErrCompile) || !strings.Contains(err.Error(), "pos.go:7:17: script: compile error: undefined: undefinedFunc") {
		t.Errorf("compile error in a copied loop: %v, want it at 7:17", err)
	}

	// A three-clause loop that changes the captured variable cannot be
	// given a copy: refused at the change.
	src = "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tvar fs []func() int\n\tfor i := 0; i < 3; i++ {\n\t\tfs = append(fs, func() int { return i })\n\t\ti++\n\t}\n\treturn n\n}\n"
	_, err = l.Load(context.Background(), e.host, e.write("changed.go", src))
	if !errors.Is(err, script.ErrUnsupported) || !strings.Contains(err.Error(), "changed.go:8:3:") || !strings.Contains(err.Error(), "loop variable i") {
		t.Errorf("changed loop variable: %v", err)
	}
}
