package script_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

func Example() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background()) // closes the loader too
	l := script.New(script.Options{})
	if err := m.Attach(l); err != nil {
		panic(err)
	}

	dir, err := os.MkdirTemp("", "patches")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greet.go")
	src := `package patch

import "strings"

//hotpatch:slot example.Greet
func Greet(name string) string { return "HELLO, " + strings.ToUpper(name) }
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		panic(err)
	}

	fmt.Println(greet.Load()("gopher"))
	p, err := m.Load(context.Background(), l, path) // l.Load with m as its host
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(greet.Load()("gopher"))
	// Output:
	// hello, gopher
	// HELLO, GOPHER
}

func ExampleLoader_Load_error() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
	l := script.New(script.Options{})

	dir, err := os.MkdirTemp("", "patches")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	for name, src := range map[string]string{
		"sig.go":   "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n int) string { return \"\" }\n",
		"range.go": "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\tfor range 3 {\n\t\tname += \"!\"\n\t}\n\treturn name\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			panic(err)
		}
	}
	for _, name := range []string{"sig.go", "range.go"} {
		_, err := l.Load(context.Background(), m, filepath.Join(dir, name))
		fmt.Println(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""))
	}
	// Output:
	// sig.go:3:1: func Greet: hotswap: slot example.Greet: implementation has type func(int) string, slot has type func(string) string
	// range.go:5:2: script: not supported by the interpreter (yaegi v0.16.1): range over an integer (Go 1.22); write for i := 0; i < n; i++
}
