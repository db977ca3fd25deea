package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestBuiltProcessPatchServes builds a process patch with the command and
// applies it with the process loader: the built executable serves the
// slots with the types the host registered.
func TestBuiltProcessPatchServes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "greet.go")
	err := os.WriteFile(src, []byte(`package patch

import "strings"

//hotpatch:slot example.Greet
func Greet(name string) string { return "hello again, " + strings.ToUpper(name) }

//hotpatch:slot example.Double
func double(n int) (int, error) { return 2 * n, nil }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "greet.proc")
	var stdout, stderr bytes.Buffer
	args := []string{"patch", "build", "--kind", "process", "-o", out, "--module-root", moduleRoot(t), src}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("hotpatch %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}

	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	double := registry.MustRegister(reg, "example.Double", func(n int) (int, error) { return n + n, nil })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	l := process.New(process.Options{})
	if err := mgr.Attach(l); err != nil {
		t.Fatal(err)
	}
	p, err := mgr.Load(context.Background(), l, out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := greet.Load()("bob"); got != "hello again, BOB" {
		t.Fatalf("Greet = %q", got)
	}
	if got, err := double.Load()(21); got != 42 || err != nil {
		t.Fatalf("Double = %d, %v", got, err)
	}
}
