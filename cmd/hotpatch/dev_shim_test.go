package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// shimFiles is a package spread over files: two with slot functions,
// one of another build tag, a cgo file, a test file.
var shimFiles = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.26\n",
	"p/a.go": `package p

// Greet backs a slot.
//
//hotpatch:slot p.Greet
func Greet(name string) string { return helper(name) }

func helper(s string) string { return s }

func generic[T any](v T) T { return v }

func init() {}

var count, _ = 1, 2

var (
	limit = 3
	_     = limit
)

type book struct{ title string }

type box[T any] struct{ v T }

const bulk, Exported = 10, 11

func (b book) price() int { return 1 }
`,
	"p/b_linux.go":   "package p\n\nfunc linuxOnly() {}\n",
	"p/b_windows.go": "package p\n\nfunc windowsOnly() {}\n",
	"p/c.go":         "//go:build ignore\n\npackage p\n\nfunc ignored() {}\n",
	"p/cgo.go":       "package p\n\n// static int one(void) { return 1; }\nimport \"C\"\n\nvar cval = int(C.one())\n",
	"p/a_test.go":    "package p\n\nfunc testOnly() {}\n",
	"q/q.go":         "package q\n\nfunc noSlot() {}\n",
	"main.go":        "package main\n\nimport _ \"example.com/m/p\"\n\n//hotpatch:slot m.Main\nfunc hello() string { return \"\" }\n\nfunc main() {}\n",
}

func shimInput(over map[string]string) map[string][]byte {
	files := map[string][]byte{}
	for k, v := range shimFiles {
		files[k] = []byte(v)
	}
	for k, v := range over {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = []byte(v)
	}
	return files
}

// TestShims: a package's shim exports its unexported package-level funcs,
// vars (by address), types and consts of every file in the build (cgo
// files too; not other platforms' files, ignored ones or tests), and
// says why it leaves out generics; init, blanks, methods and exported
// names are left alone. Packages without a slot function and package
// main get none.
func TestShims(t *testing.T) {
	none := func(string) bool { return false }
	shims := buildShims(shimInput(nil), none)
	if _, ok := shims["q"]; ok {
		t.Errorf("package q has no slot function, but a shim")
	}
	if m := shims["."]; m == nil || m.why == "" || m.src != nil {
		t.Errorf("package main: %+v, want no shim and why", m)
	}
	s := shims["p"]
	if s == nil || s.why != "" {
		t.Fatalf("package p: %+v", s)
	}
	src := string(s.src)
	want := []string{
		"HotpatchExport_helper = helper", "HotpatchExportPtr_count = &count", "HotpatchExportPtr_limit = &limit",
		"HotpatchExport_book = book", "HotpatchExport_bulk = bulk", "HotpatchExportPtr_cval = &cval",
	}
	if runtime.GOOS == "linux" {
		want = append(want, "HotpatchExport_linuxOnly = linuxOnly")
	}
	for _, w := range want {
		if !strings.Contains(src, w) {
			t.Errorf("shim lacks %q:\n%s", w, src)
		}
	}
	for _, no := range []string{"generic", "box", "init", "_ =", "Exported", "price", "windowsOnly", "ignored", "testOnly", "Greet"} {
		if strings.Contains(src, "_"+no) || strings.Contains(src, "HotpatchExport"+no) {
			t.Errorf("shim has %q:\n%s", no, src)
		}
	}
	for name, why := range map[string]string{"generic": "func generic is generic", "box": "type box is generic"} {
		if !strings.Contains(s.skipped[name], why) || !strings.Contains(s.skipped[name], "p/a.go:") {
			t.Errorf("skipped[%s] = %q, want the position and %q", name, s.skipped[name], why)
		}
	}
	if r, why := s.reachOf("count", "p"); r != "(*p.HotpatchExportPtr_count)" || why != "" {
		t.Errorf("reachOf(count) = %q, %q", r, why)
	}
	if s.file != "p/zz_hotpatch_export.go" {
		t.Errorf("shim file %s", s.file)
	}

	// A file of that name in the tree: another name.
	if s := buildShims(shimInput(nil), func(rel string) bool { return rel == "p/zz_hotpatch_export.go" })["p"]; s.file != "p/zz_hotpatch_export1.go" {
		t.Errorf("with the name taken, shim file %s", s.file)
	}
	// A name of the package with the shims' prefix: no shims, and why.
	s = buildShims(shimInput(map[string]string{"p/d.go": "package p\n\nvar HotpatchExport_x = 1\n"}), none)["p"]
	if s.src != nil || !strings.Contains(s.why, "p/d.go:3:5: the package declares HotpatchExport_x") {
		t.Errorf("a colliding name: src %q, why %q", s.src, s.why)
	}
	if _, why := s.reachOf("helper", "p"); why != s.why {
		t.Errorf("reachOf with no shims: %q", why)
	}

	// The shim compiles with its package, added by an overlay.
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := t.TempDir()
	for rel, b := range shimFiles {
		f := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, f, b)
	}
	set, err := writeShims(root, t.TempDir(), shims)
	if err != nil {
		t.Fatal(err)
	}
	ov, _ := json.Marshal(map[string]any{"Replace": set.files})
	ovFile := filepath.Join(t.TempDir(), "overlay.json")
	writeFile(t, ovFile, string(ov))
	cmd := exec.Command("go", "vet", "-overlay="+ovFile, "./p")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go vet with the shim: %v\n%s\n%s", err, out, set.files)
	}
	if _, err := os.Stat(filepath.Join(root, "p", "zz_hotpatch_export.go")); err == nil {
		t.Errorf("the shim was written into the tree")
	}
}
