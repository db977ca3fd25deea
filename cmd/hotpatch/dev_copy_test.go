package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleModule is the import path of the example server; its copy is
// module devModule.
const (
	exampleModule = "github.com/hotpatch-go/hotpatch/examples/httpserver"
	devModule     = "example.com/devshop"
)

// copyExample copies the example server (its non-test sources) into a new
// module in dir that requires this repository through a replace, adds the
// counter endpoint GET /count, and returns dir.
func copyExample(t testing.TB, dir string) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(repo, "examples", "httpserver")
	for _, sub := range []string{".", "shop", "symbols"} {
		ents, err := os.ReadDir(filepath.Join(src, sub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, sub, name))
			if err != nil {
				t.Fatal(err)
			}
			s := strings.ReplaceAll(string(b), exampleModule, devModule)
			if sub == "." && name == "server.go" {
				const at = "mux := http.NewServeMux()\n"
				if !strings.Contains(s, at) {
					t.Fatalf("server.go: no %q to add GET /count after", at)
				}
				s = strings.Replace(s, at, at+"\tmux.HandleFunc(\"GET /count\", handleCount)\n", 1)
			}
			writeFile(t, filepath.Join(dir, sub, name), s)
		}
	}
	counter, err := os.ReadFile(filepath.Join("testdata", "dev", "counter.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "counter.go"), string(counter))
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), string(sum))
	writeFile(t, filepath.Join(dir, "go.mod"), "module "+devModule+"\n\ngo 1.26.0\n\n"+
		"require github.com/hotpatch-go/hotpatch v0.0.0-00010101000000-000000000000\n\n"+
		"replace github.com/hotpatch-go/hotpatch => "+repo+"\n")
	return dir
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
