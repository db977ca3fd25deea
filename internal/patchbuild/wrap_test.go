package patchbuild

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// shapesSource serves slots of every shape of signature the generated
// wrappers must reproduce exactly.
const shapesSource = `package patch

import (
	"context"
	"io"
	. "strings"
	tm "time"
)

type reply struct{ n int }

//hotpatch:slot s.Variadic
func JoinAll(sep string, parts ...string) string { return sep }

//hotpatch:slot s.Results
func Read(ctx context.Context, r io.Reader) (n int, d tm.Duration, err error) { return 0, 0, nil }

//hotpatch:slot s.Unnamed
func Unnamed(int, string, *Builder) {}

//hotpatch:slot s.Grouped
func Grouped(a, b int, _ float64) (x, y int) { return a, b }

//hotpatch:slot s.Own
func Own(r *reply, fs ...func(reply) error) reply { return *r }

//hotpatch:slot s.None
func None() {}

//hotpatch:slot s.Blank
func Blank(_, _ int) (int, error) { return 0, nil }

//hotpatch:slot s.Chan
func Chan(c <-chan struct{ a, b int }, m map[string][]any) <-chan error { return nil }

var HotpatchRedirects = map[string][2]any{
	"example.com/app/x.Shout":  {Shout, Whisper},
	"example.com/app/x.Shout2": {Shout, func(s string) string { return s }},
}

func Shout(s string) string { return s }

func Whisper(s string) string { return s }
`

// checkWrapped writes the build directory's files as Prepare would and
// type-checks them.
func checkWrapped(t *testing.T, src string, edit func([]byte) []byte) (*types.Package, []string, error) {
	t.Helper()
	s := parse(t, src)
	rs, err := redirectsOf(s)
	if err != nil {
		t.Fatal(err)
	}
	funcs := make(map[string]string)
	for _, d := range s.Directives {
		funcs[d.Slot] = d.Func
	}
	wrap, unwrapped, err := wrappers(s, funcs, rs)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		wrap = edit(wrap)
	}
	patch := append(rewritePatch("/src/patch.go", []byte(src), s, rs), wrap...)
	rec, err := fingerprint.FingerprintOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/app"},
		Settings: settings("CGO_ENABLED", "1")})
	if err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Kind: manifest.KindNative, ID: "p", Package: "example.com/app/.hotpatch/build/p", Source: "p.go",
		SourceSum: "sha256:00", Baseline: rec}
	for _, d := range s.Directives {
		m.Slots = append(m.Slots, manifest.Slot{Name: d.Slot})
	}
	gen, err := generate(m, funcs, len(rs) > 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for name, data := range map[string][]byte{patchFile: patch, GeneratedFile: gen} {
		f, err := parser.ParseFile(fset, name, data, parser.ParseComments)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.Default(), FakeImportC: true}
	pkg, err := conf.Check("example.com/app/.hotpatch/build/p", fset, files, nil)
	if err != nil {
		err = &wrapCheckError{err: err, src: patch}
	}
	return pkg, unwrapped, err
}

type wrapCheckError struct {
	err error
	src []byte
}

func (e *wrapCheckError) Error() string { return e.err.Error() + "\n" + string(e.src) }

// TestWrappersCompile: the wrappers of funcs with variadic params, several
// and named results, unnamed and blank params, types of other packages
// (under an alias and a dot import) and of the patch's own unexported
// types compile, and have their funcs' types, which hotpatchWrapped makes
// the compiler check.
func TestWrappersCompile(t *testing.T) {
	pkg, unwrapped, err := checkWrapped(t, shapesSource, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, ok := pkg.Scope().Lookup(manifest.SymbolWrap).(*types.Func)
	if !ok {
		t.Fatalf("no func %s", manifest.SymbolWrap)
	}
	want := "func(hotpatchSlot func(string, any), hotpatchRedirect func(string, any)) (map[string]any, map[string]any)"
	if got := fn.Type().String(); got != want {
		t.Errorf("%s is %s, want %s", manifest.SymbolWrap, got, want)
	}
	if len(unwrapped) != 1 || unwrapped[0] != "example.com/app/x.Shout2" {
		t.Errorf("unwrapped = %v, want the redirect whose replacement is a func literal", unwrapped)
	}
}

// TestWrappersTypeGuard: a wrapper whose type differed from its func's
// would not compile, so a slip in writing signatures cannot reach the
// loader as a type mismatch.
func TestWrappersTypeGuard(t *testing.T) {
	_, _, err := checkWrapped(t, shapesSource, func(b []byte) []byte {
		return bytes.Replace(b, []byte("hotpatchA1 ...string"), []byte("hotpatchA1 []string"), 1)
	})
	if err == nil || !strings.Contains(err.Error(), "hotpatchWrapped") {
		t.Fatalf("a wrapper of another type type-checks: %v", err)
	}
}

// TestWrapperSource: what a wrapper does, as written.
func TestWrapperSource(t *testing.T) {
	s := parse(t, shapesSource)
	wrap, _, err := wrappers(s, map[string]string{"s.Variadic": "JoinAll", "s.None": "None"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"//line " + wrapLine + ":1\n",
		`"s.Variadic": hotpatchWrapped(JoinAll, func(hotpatchA0 string, hotpatchA1 ...string) (hotpatchR0 string) {` + "\n" +
			"\t\t\thotpatchReturned := false\n" +
			"\t\t\tdefer hotpatchRecover(hotpatchSlot, \"s.Variadic\", &hotpatchReturned)\n" +
			"\t\t\thotpatchR0 = JoinAll(hotpatchA0, hotpatchA1...)\n\t\t\thotpatchReturned = true\n\t\t\treturn\n",
		"\t\t\tdefer hotpatchRecover(hotpatchSlot, \"s.None\", &hotpatchReturned)\n\t\t\tNone()\n\t\t\thotpatchReturned = true\n\t\t})",
	} {
		if !strings.Contains(string(wrap), want) {
			t.Errorf("wrappers lack %q:\n%s", want, wrap)
		}
	}
}

// TestOwnNamesRefused: a patch that declares a name of the generated code
// is refused before the build, naming it.
func TestOwnNamesRefused(t *testing.T) {
	s := parse(t, "package patch\n\nvar hotpatchRecover = 1\n\nfunc HotpatchWrap() {}\n\n//hotpatch:slot a.B\nfunc F() {}\n")
	got := ownNames(s)
	if len(got) != 2 || !strings.HasPrefix(got[0], "hotpatchRecover (/src/patch.go:3") || !strings.HasPrefix(got[1], "HotpatchWrap (") {
		t.Fatalf("ownNames = %q", got)
	}
	if got := ownNames(parse(t, shapesSource)); len(got) != 0 {
		t.Fatalf("ownNames of a patch that declares none = %q", got)
	}
}

// TestPrepareWrappers: a plan appends HotpatchWrap to the patch's file,
// warns of a redirect replacement it cannot wrap, and refuses a patch
// that declares a name of the generated code.
func TestPrepareWrappers(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := debug.ReadBuildInfo()
	goCmd := fakeGo(t, info.GoVersion, info.Main.Path)
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	src := write("r.go", "package p\n\nvar HotpatchRedirects = map[string][2]any{\n\t\"x.G\": {G, func() {}},\n\t\"x.H\": {G, H},\n}\n\n"+
		"func G() {}\n\nfunc H() {}\n\n//hotpatch:slot a.B\nfunc F() {}\n")
	p, err := Prepare(context.Background(), Options{Baseline: self, Source: src, Go: goCmd})
	if err != nil {
		t.Fatal(err)
	}
	patch := string(p.Files[patchFile])
	if !strings.Contains(patch, "\nfunc HotpatchWrap(") || !strings.Contains(patch, `"x.H": hotpatchWrapped(H, `) || strings.Contains(patch, `"x.G": hotpatchWrapped`) {
		t.Errorf("patch.go:\n%s", patch)
	}
	if len(p.Warnings) == 0 || !strings.Contains(p.Warnings[len(p.Warnings)-1], "redirect x.G: the replacement is not the name of a func declared in r.go") {
		t.Errorf("warnings = %q, want one for the func literal of x.G", p.Warnings)
	}
	bad := write("bad.go", "package p\n\nfunc hotpatchRecover() {}\n\n//hotpatch:slot a.B\nfunc F() {}\n")
	_, err = Prepare(context.Background(), Options{Baseline: self, Source: bad, Go: goCmd})
	if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "hotpatchRecover (") || !strings.Contains(err.Error(), "rename them") {
		t.Errorf("a patch declaring hotpatchRecover: err = %v", err)
	}
}
