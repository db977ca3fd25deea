package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProcessPatch builds the sample greeting as a process patch with the
// hotpatch command, drops it in, and removes it: the README's tour of
// process patches.
func TestProcessPatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hotpatch command and a plugin")
	}
	tmpDir := t.TempDir()
	hotpatch := filepath.Join(tmpDir, "hotpatch")
	if msg, err := exec.Command("go", "build", "-o", hotpatch, "../../cmd/hotpatch").CombinedOutput(); err != nil {
		t.Fatalf("building the hotpatch command: %v\n%s", err, msg)
	}
	buildPatch := func(src string) []byte {
		out := filepath.Join(tmpDir, strings.TrimSuffix(filepath.Base(src), ".go")+".proc")
		build := exec.Command(hotpatch, "patch", "build", "--kind", "process", "-o", out, src)
		if msg, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", build.Args, err, msg)
		}
		bin, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
	bin := buildPatch("patches.sample/greet.go")
	sale := buildPatch("patches.sample/price_sale.go") // uses the shop's own types

	s := start(t)
	if got := s.greet("ada"); got != "hello, ada" {
		t.Fatalf("baseline: %q", got)
	}
	drop := func(name string, content []byte) string {
		path := filepath.Join(s.dir, name)
		tmp := filepath.Join(s.dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, content, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := drop("greet.proc", bin)
	s.waitGreet("ada", "Welcome to Inkwell Books, Ada!")
	s.waitFor("a process patch in the status", func() bool {
		for _, p := range s.status().Stack {
			if p.Kind == "process" {
				return true
			}
		}
		return false
	})
	if !strings.Contains(s.logs.String(), "kind=process") {
		t.Errorf("no process patch in the logs:\n%s", s.logs)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s.waitGreet("ada", "hello, ada")

	drop("price_sale.proc", sale)
	s.waitFor("the sale price from a process", func() bool {
		return strings.Contains(s.mustGet("/price?isbn=9780441013593&qty=10", http.StatusOK), "science-fiction week")
	})
}
