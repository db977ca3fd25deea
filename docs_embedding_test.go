package hotpatch_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEmbeddingDocBuilds: every complete main of docs/embedding.md
// builds against this module, so a new user who copies one gets a
// program, not a list of compile errors. The mains are laid over the
// module as packages of their own (go build -overlay); nothing is
// written into the tree.
func TestEmbeddingDocBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	doc, err := os.ReadFile("docs/embedding.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	for i, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(doc, -1) {
		if !regexp.MustCompile(`(?m)^package main$`).Match(m[1]) {
			continue
		}
		src := filepath.Join(tmp, "main"+string(rune('a'+i))+".go")
		if err := os.WriteFile(src, m[1], 0o644); err != nil {
			t.Fatal(err)
		}
		dir := "internal/docmain" + string(rune('a'+i))
		overlay[filepath.Join(root, dir, "main.go")] = src
		pkgs = append(pkgs, "./"+dir)
	}
	if len(pkgs) < 3 {
		t.Fatalf("%d complete mains in docs/embedding.md, want 3 (the root package, the baseline step, the packages)", len(pkgs))
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"build", "-o", os.DevNull, "-overlay", ovFile}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the mains of docs/embedding.md do not build: %v\n%s", err, strings.ReplaceAll(string(out), tmp, "docs/embedding.md"))
	}
}
