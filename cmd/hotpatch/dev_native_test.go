package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// devNativeBase is devBase with unexported state, a generic func and a
// method, for the native patch's source.
const devNativeBase = devBase + `
var hits int

type tally struct{ n int }

func (t *tally) bump() int { t.n++; return t.n }

func pick[T any](a, b T) T { return a }
`

// TestDevNativeSource: the native patch source of a changed body, or why
// there is none: exported names qualified, unexported ones reached
// through the shim (a var through its address), names resolved in their
// scopes, and what a patch in another package cannot reach refused with
// its position.
func TestDevNativeSource(t *testing.T) {
	const abs = "/src/m/shop/shop.go"
	for _, tt := range []struct {
		name, body string
		pkgName    string   // "" means shop
		want       []string // in the source
		reason     string
	}{
		{name: "unexported func and var", body: "hits++\n\treturn helper(name) + fmt.Sprint(hits)",
			want: []string{"(*shop.HotpatchExportPtr_hits)/*line " + abs + ":20:6*/++", "shop.HotpatchExport_helper/*line " + abs + ":21:15*/(name)",
				"\"example.com/m/shop\"", "\"fmt\"", "//line " + abs + ":18:1\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {"}},
		{name: "exported names", body: `return fmt.Sprint(name, BulkQty, Book{Title: name})`,
			want: []string{"shop.BulkQty", "shop.Book/*line " + abs + ":20:39*/{Title: name}"}},
		{name: "scopes", body: "if helper := 1; helper > 0 {\n\t\tname += fmt.Sprint(helper)\n\t}\n\treturn helper(name)",
			want: []string{"if helper := 1; helper > 0 {", "fmt.Sprint(helper)", "return shop.HotpatchExport_helper"}},
		{name: "own struct fields", body: "p := struct{ n int }{n: 1}\n\treturn fmt.Sprint(p.n, true) + name",
			want: []string{"struct{ n int }{n: 1}", "p.n"}},
		{name: "universe key", body: "m := map[bool]string{true: name}\n\treturn m[true]", want: []string{"map[bool]string{true: name}"}},
		{name: "yaegi-refused, stdlib only", body: "for i := range 3 {\n\t\tname += fmt.Sprint(i)\n\t}\n\treturn name", want: []string{"for i := range 3"}},
		{name: "unexported method", body: "var t tally\n\treturn fmt.Sprint(t.bump()) + name", reason: ".bump is an unexported method or field"},
		{name: "unexported field key", body: "return fmt.Sprint(tally{n: 1}) + name", reason: "n: is an unexported field"},
		{name: "key like a package name", body: `return fmt.Sprint(Book{TitleOf: name})`, reason: "TitleOf is a key"},
		{name: "generic func", body: `return pick(name, name)`, reason: "func pick is generic"},
		{name: "package main", body: `return helper(name)`, pkgName: "main", reason: "uses helper of package main, which a plugin cannot import"},
		{name: "package main, stdlib only", body: `return strings.ToUpper(name)`, pkgName: "main", want: []string{"strings.ToUpper(name)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := devNativeBase
			pkgName := "shop"
			if tt.pkgName != "" {
				pkgName = tt.pkgName
				base = strings.Replace(base, "package shop", "package "+pkgName, 1)
			}
			src := strings.Replace(base, `return "hello, " + name`, tt.body, 1)
			f, err := parseSrc("shop/shop.go", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			of, _ := parseSrc("shop/shop.go", []byte(base))
			edits, reason := compareFile(of, f)
			if reason != "" || len(edits) != 1 {
				t.Fatalf("edits %v, reason %q", edits, reason)
			}
			pkg := pkgInfo{name: pkgName, path: "example.com/m/shop", names: map[string]bool{}}
			collectNames(f.file, pkg.names)
			shim := buildShims(map[string][]byte{"shop/shop.go": []byte(base)}, func(string) bool { return false })["shop"]
			got, why := nativeSource(edits[0], pkg, shim, abs)
			if tt.reason != "" {
				if !strings.Contains(why, tt.reason) || !strings.Contains(why, "shop/shop.go:") {
					t.Errorf("reason %q, want it to say %q with the position", why, tt.reason)
				}
				return
			}
			if why != "" {
				t.Fatalf("no native source: %s", why)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("source lacks %q:\n%s", w, got)
				}
			}
			if _, err := parseSrc("patch.go", got); err != nil {
				t.Errorf("source does not parse: %v\n%s", err, got)
			}
		})
	}
}

// TestDevCompileErrors: a failed build's output is the new code's fault
// when every message is at a position in one of the module's files.
func TestDevCompileErrors(t *testing.T) {
	files := map[string][]byte{"shop/shop.go": []byte("package shop\n")}
	for _, tt := range []struct{ out, want string }{
		{"# example.com/m/.hotpatch/build/x\n./shop/shop.go:3:9: undefined: x\n\tmore\n", "shop/shop.go:3:9: undefined: x\n\tmore"},
		{"# example.com/m/.hotpatch/build/x\n.hotpatch/build/x/patch.go:3:9: undefined: x\n", ""},
		{"shop/shop.go:3:9: undefined: x\nplugin was built with a different version\n", ""},
		{"other/other.go:1:1: x\n", ""},
	} {
		if got := compileErrors(tt.out, files); got != tt.want {
			t.Errorf("compileErrors(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

// FuzzDevNativeSource: for any file with a slot function, the native
// patch source is written or refused with a reason, never a panic, and
// a source written parses.
func FuzzDevNativeSource(f *testing.F) {
	f.Add(devNativeBase)
	f.Add(strings.Replace(devNativeBase, `return "hello, " + name`, "hits++\n\treturn helper(name) + fmt.Sprint(tally{n: hits}, Book{Title: name}.Title)", 1))
	f.Fuzz(func(t *testing.T, src string) {
		sf, err := parseSrc("shop/shop.go", []byte(src))
		if err != nil {
			return
		}
		pkg := pkgInfo{name: sf.file.Name.Name, path: "example.com/m/shop", names: map[string]bool{}}
		collectNames(sf.file, pkg.names)
		shim := buildShims(map[string][]byte{"shop/shop.go": []byte(src)}, func(string) bool { return false })["shop"]
		for _, d := range sf.decls() {
			if d.slot == "" {
				continue
			}
			got, why := nativeSource(hotEdit{slot: d.slot, fn: d.fd.Name.Name, file: sf, fd: d.fd}, pkg, shim, "/m/shop/shop.go")
			if why != "" {
				continue
			}
			if _, err := parseSrc("patch.go", got); err != nil {
				t.Fatalf("the source does not parse: %v\n%s", err, got)
			}
		}
	})
}

// TestDevOverlay: the overlay of a build for a baseline adds the shims,
// puts back the baseline's copy of every Go file, saved since or not (a
// cgo file too: the go command compiles it from the overlay), and removes
// a file the baseline did not have.
func TestDevOverlay(t *testing.T) {
	root, tmp := t.TempDir(), t.TempDir()
	const cgo = "package shop\n\n// int one(void) { return 1; }\nimport \"C\"\n"
	snap := map[string][]byte{
		"go.mod":       []byte("module example.com/m\n"),
		"shop/shop.go": []byte("package shop\n\nfunc A() {}\n"),
		"shop/same.go": []byte("package shop\n"),
		"shop/cgo.go":  []byte(cgo),
	}
	for rel, b := range snap {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, rel), string(b))
	}
	writeFile(t, filepath.Join(root, "shop", "shop.go"), "package shop\n\nfunc A() { println() }\n")
	writeFile(t, filepath.Join(root, "shop", "cgo.go"), cgo+"\nfunc B() {}\n")
	writeFile(t, filepath.Join(root, "shop", "new.go"), "package shop\n")
	l := &devLoop{root: root, tmp: tmp}
	shims := &shimSet{files: map[string]string{filepath.Join(root, "shop", "zz_hotpatch_export.go"): "/shim.go"}}
	file, cleanup, err := l.writeOverlay(snap, shims)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if got := o.Replace[filepath.Join(root, "shop", "zz_hotpatch_export.go")]; got != "/shim.go" {
		t.Errorf("shim: %q", got)
	}
	if got, err := os.ReadFile(o.Replace[filepath.Join(root, "shop", "shop.go")]); err != nil || string(got) != string(snap["shop/shop.go"]) {
		t.Errorf("the saved file is replaced by %q (%v), want the baseline's copy", got, err)
	}
	if r, ok := o.Replace[filepath.Join(root, "shop", "new.go")]; !ok || r != "" {
		t.Errorf("the new file: %q, %v; want removed", r, ok)
	}
	// A file unchanged is pinned too: a save while the build runs
	// must not get into it.
	if got, err := os.ReadFile(o.Replace[filepath.Join(root, "shop", "same.go")]); err != nil || string(got) != string(snap["shop/same.go"]) {
		t.Errorf("the unchanged file is replaced by %q (%v), want the baseline's copy", got, err)
	}
	if got, err := os.ReadFile(o.Replace[filepath.Join(root, "shop", "cgo.go")]); err != nil || string(got) != cgo {
		t.Errorf("the saved cgo file is replaced by %q (%v), want the baseline's copy", got, err)
	}
	for _, rel := range []string{"go.mod"} {
		if r, ok := o.Replace[filepath.Join(root, rel)]; ok {
			t.Errorf("%s is in the overlay (%q)", rel, r)
		}
	}
	cleanup()
	if _, err := os.Stat(file); err == nil {
		t.Errorf("cleanup left %s", file)
	}
}

// TestDevHotResult: the output's word for a save's delivery.
func TestDevHotResult(t *testing.T) {
	for _, tt := range []struct {
		r          hotResult
		kind, note string
	}{
		{hotResult{scripts: 2}, "hot (script)", ""},
		{hotResult{natives: 1, notes: []string{"x: uses y"}}, "hot (native)", "; not a script: x: uses y"},
		{hotResult{scripts: 1, natives: 1, notes: []string{"a"}}, "hot (1 script, 1 native)", "; not a script: a"},
	} {
		if k, n := tt.r.kind(), tt.r.note(); k != tt.kind || n != tt.note {
			t.Errorf("%+v: %q %q, want %q %q", tt.r, k, n, tt.kind, tt.note)
		}
	}
}
