package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDevEmbeddedDirectoryNewFile: a file added to a directory that a
// //go:embed pattern names (or that a glob pattern matches) changes the
// server as much as an edit of an embedded file: the scan sees it, so it
// is a baseline step. Only the files embedded when the baseline was built
// were watched, and a new template in static/ went unseen until an
// unrelated save. Files the pattern leaves out (names starting with . or
// _, in a directory pattern without all:) and editors' temporary files
// do not count.
func TestDevEmbeddedDirectoryNewFile(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module example.com/emb\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(root, "main.go"), "package main\n\nimport \"embed\"\n\n//go:embed static *.tmpl\nvar files embed.FS\n\nfunc main() { _ = files }\n")
	if err := os.MkdirAll(filepath.Join(root, "static", "css"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "static", "index.html"), "<p>hi</p>")
	writeFile(t, filepath.Join(root, "page.tmpl"), "{{.}}")
	l := &devLoop{root: root, pkgRel: ".", goCmd: goCmd}
	if l.extra, err = l.listExtra(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	before := l.scan()
	for _, rel := range []string{"static/index.html", "page.tmpl"} {
		if _, ok := before[rel]; !ok {
			t.Errorf("the scan does not see the embedded file %s", rel)
		}
	}
	// Left out by the patterns, or an editor's: no change.
	writeFile(t, filepath.Join(root, "static", ".hidden"), "x")
	writeFile(t, filepath.Join(root, "static", "_draft.html"), "x")
	writeFile(t, filepath.Join(root, "static", "#index.html#"), "x")
	writeFile(t, filepath.Join(root, "static", "index.html~"), "x")
	writeFile(t, filepath.Join(root, "notes.txt"), "x")
	if now := l.scan(); !sameStates(before, now) {
		t.Errorf("files no pattern embeds count: %v, was %v", now, before)
	}
	for _, rel := range []string{"static/css/site.css", "other.tmpl"} {
		writeFile(t, filepath.Join(root, filepath.FromSlash(rel)), "x")
		now := l.scan()
		if _, ok := now[rel]; !ok {
			t.Errorf("a new file %s that a //go:embed pattern takes is not seen", rel)
		}
		if r := l.extraReason(rel); r == rel+" changed" {
			t.Errorf("reason for %s: %q, want it to say what embeds it", rel, r)
		}
	}
}
