package script_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestErrorsAsCompiledTargetLoads: the check that refuses errors.As into
// a script type leaves errors.As into a compiled type alone (it works in
// the interpreter), and into any.
func TestErrorsAsCompiledTargetLoads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := `package patch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

//hotpatch:slot example.Greet
func Greet(n string) string {
	_, err := os.Open("/nonexistent/" + n)
	var pe *fs.PathError
	var a any
	return fmt.Sprint(errors.As(fmt.Errorf("w: %w", err), &pe), " ", pe.Op, " ", errors.As(err, &a))
}
`
	l := e.loader(script.Options{})
	p, err := l.Load(context.Background(), e.host, e.write("as.go", src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = p.Retire(context.Background()) })
	f := p.Impls["example.Greet"].(func(string) string)
	if got := f("x"); got != "true open true" {
		t.Errorf("Greet = %q, want %q", got, "true open true")
	}
}

// TestErrorsAsScriptInterfaceRefused: an interface with methods written
// in the script, named or not, is no interface to errors.As either (it
// panics at the call); both are refused at load, at the call.
func TestErrorsAsScriptInterfaceRefused(t *testing.T) {
	t.Parallel()
	for _, decl := range []string{"type coder interface{ Code() int }\n\nvar c coder", "var c interface{ Timeout() bool }"} {
		e := newEnv(t)
		src := "package patch\n\nimport \"errors\"\n\n" + decl + "\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string {\n\tif errors.As(errors.New(n), &c) {\n\t\treturn \"yes\"\n\t}\n\treturn n\n}\n"
		_, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("as.go", src))
		if !errors.Is(err, script.ErrUnsupported) || !strings.Contains(err.Error(), "errors.As into type") {
			t.Errorf("%s: Load = %v, want ErrUnsupported naming errors.As", decl, err)
		}
	}
}
