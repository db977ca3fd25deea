package loader_test

import (
	"errors"
	"go/token"
	"regexp"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
)

const okSource = `package patch

import (
	"strings"
	str "strconv"
)

// Greet shouts.
//
//hotpatch:slot example.Greet
func Greet(name string) string { return strings.ToUpper(name) + str.Itoa(1) }

func helper() {}

//hotpatch:slot	shop.Price
func price(cents int64) int64 { return cents }
`

func TestParseOK(t *testing.T) {
	t.Parallel()
	src, err := loader.Parse("dir/greet.go", []byte(okSource))
	if err != nil {
		t.Fatal(err)
	}
	if src.File != "dir/greet.go" || src.Package != "patch" || src.AST == nil || src.FileSet == nil {
		t.Errorf("got File=%q Package=%q AST=%v FileSet=%v", src.File, src.Package, src.AST != nil, src.FileSet != nil)
	}
	if got, want := strings.Join(src.Imports, ","), "strings,strconv"; got != want {
		t.Errorf("Imports = %s, want %s", got, want)
	}
	want := []loader.Directive{
		{Slot: "example.Greet", Func: "Greet", Pos: token.Position{Filename: "dir/greet.go", Offset: strings.Index(okSource, "//hotpatch:slot example"), Line: 10, Column: 1}},
		{Slot: "shop.Price", Func: "price", Pos: token.Position{Filename: "dir/greet.go", Offset: strings.Index(okSource, "//hotpatch:slot\tshop"), Line: 15, Column: 1}},
	}
	if len(src.Directives) != len(want) {
		t.Fatalf("Directives = %+v, want %+v", src.Directives, want)
	}
	for i := range want {
		if src.Directives[i] != want[i] {
			t.Errorf("Directives[%d] = %+v, want %+v", i, src.Directives[i], want[i])
		}
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		slots     string // comma-separated, in order
	}{
		{"directly above", "package p\n//hotpatch:slot a.B\nfunc F() {}\n", "a.B"},
		{"last line of doc", "package p\n// F does.\n// More.\n//hotpatch:slot a.B\nfunc F() {}\n", "a.B"},
		{"tab and trailing space", "package p\n//hotpatch:slot\ta.B  \nfunc F() {}\n", "a.B"},
		{"CRLF", "package p\r\n\r\n//hotpatch:slot a.B\r\nfunc F() {}\r\n", "a.B"},
		{"byte order mark", "\ufeffpackage p\n//hotpatch:slot a.B\nfunc F() {}\n", "a.B"},
		{"unexported and deep name", "package p\n//hotpatch:slot api.v2.Hello_2\nfunc hello() {}\n", "api.v2.Hello_2"},
		{"two slots", "package p\n//hotpatch:slot a.B\nfunc F() {}\n//hotpatch:slot a.C\nfunc G() {}\n", "a.B,a.C"},
		{"prose mentioning hotpatch", "package p\n// hotpatch: fast.\n//hotpatch:slot a.B\nfunc F() {}\n", "a.B"},
		{"package main", "package main\n//hotpatch:slot a.B\nfunc F() {}\nfunc main() {}\n", "a.B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := loader.Parse("p.go", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range src.Directives {
				got = append(got, d.Slot)
			}
			if strings.Join(got, ",") != tc.slots {
				t.Errorf("slots = %v, want %s", got, tc.slots)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		want      error
		line, col int    // of the first error
		msg       string // in the message
	}{
		{"empty", "", loader.ErrEmpty, 1, 1, "p.go:1:1: loader: empty file"},
		{"whitespace only", " \n\t\n", loader.ErrEmpty, 1, 1, "empty file"},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00\x00", loader.ErrBinary, 1, 8, "binary file"},
		{"NUL inside", "package p\n\n// x\x00\n", loader.ErrBinary, 3, 5, "p.go:3:5"},
		{"latin-1", "package p\n// caf\xe9\n//hotpatch:slot a.B\nfunc F() {}\n", loader.ErrNotUTF8, 2, 7, "invalid byte 0xe9"},
		{"syntax", "package p\n//hotpatch:slot a.B\nfunc F( {}\n", loader.ErrSyntax, 3, 9, "syntax error"},
		{"no package", "//hotpatch:slot a.B\nfunc F() {}\n", loader.ErrSyntax, 2, 1, "expected 'package'"},
		{"no directive", "package p\n\nfunc F() {}\n", loader.ErrNoDirective, 1, 1, "no //hotpatch:slot"},
		{"above var", "package p\n//hotpatch:slot a.B\nvar F = 1\n", loader.ErrNotFunc, 2, 1, "above a var declaration"},
		{"above type", "package p\n//hotpatch:slot a.B\ntype T int\n", loader.ErrNotFunc, 2, 1, "above a type declaration"},
		{"inside grouped const", "package p\nconst (\n//hotpatch:slot a.B\nX = 1\n)\n", loader.ErrNotFunc, 3, 1, "inside a const declaration"},
		{"above method", "package p\ntype T int\n//hotpatch:slot a.B\nfunc (T) M() {}\n", loader.ErrNotFunc, 3, 1, "M is a method"},
		{"above generic", "package p\n//hotpatch:slot a.B\nfunc F[T any](T) {}\n", loader.ErrGenericFunc, 2, 1, "type parameters"},
		{"blank line", "package p\n//hotpatch:slot a.B\n\nfunc F() {}\n", loader.ErrNotFunc, 2, 1, "a blank line separates it from func F"},
		{"not last doc line", "package p\n//hotpatch:slot a.B\n// F does.\nfunc F() {}\n", loader.ErrNotFunc, 2, 1, "last line of the doc comment of func F"},
		{"two on one func", "package p\n//hotpatch:slot a.B\n//hotpatch:slot a.C\nfunc F() {}\n", loader.ErrNotFunc, 2, 1, "last line"},
		{"inside body", "package p\nfunc F() {\n\t//hotpatch:slot a.B\n\tg()\n}\nfunc g() {}\n", loader.ErrNotFunc, 3, 2, "inside func F"},
		{"at the end", "package p\nfunc F() {}\n//hotpatch:slot a.B\n", loader.ErrNotFunc, 3, 1, "nothing follows it"},
		{"init", "package p\n//hotpatch:slot a.B\nfunc init() {}\n", loader.ErrNotFunc, 2, 1, "func init cannot be referred to"},
		{"blank func", "package p\n//hotpatch:slot a.B\nfunc _() {}\n", loader.ErrNotFunc, 2, 1, "func _"},
		{"no body", "package p\n//hotpatch:slot a.B\nfunc F()\n", loader.ErrNotFunc, 2, 1, "no body"},
		{"duplicate slot", "package p\n//hotpatch:slot a.B\nfunc F() {}\n//hotpatch:slot a.B\nfunc G() {}\n", loader.ErrDuplicateSlot, 4, 1, "a.B is served by func F (line 2) and func G"},
		{"one-part name", "package p\n//hotpatch:slot Greet\nfunc F() {}\n", loader.ErrBadSlotName, 2, 1, `"Greet"`},
		{"empty part", "package p\n//hotpatch:slot a..B\nfunc F() {}\n", loader.ErrBadSlotName, 2, 1, "malformed slot name"},
		{"digit first", "package p\n//hotpatch:slot a.9B\nfunc F() {}\n", loader.ErrBadSlotName, 2, 1, "malformed slot name"},
		{"non-ASCII name", "package p\n//hotpatch:slot café.Prix\nfunc F() {}\n", loader.ErrBadSlotName, 2, 1, "malformed slot name"},
		{"missing name", "package p\n//hotpatch:slot\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "slot name is missing"},
		{"two names", "package p\n//hotpatch:slot a.B a.C\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "one slot name per directive"},
		{"trailing comment", "package p\n//hotpatch:slot a.B // why\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "one slot name per directive"},
		{"space after slashes", "package p\n// hotpatch:slot a.B\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "no space is allowed"},
		{"block comment", "package p\n/*hotpatch:slot a.B*/\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "not /* */"},
		{"unknown verb", "package p\n//hotpatch:slots a.B\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "unknown directive //hotpatch:slots"},
		{"glued name", "package p\n//hotpatch:slota.B\nfunc F() {}\n", loader.ErrBadDirective, 2, 1, "unknown directive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loader.Parse("p.go", []byte(tc.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %v", err, tc.want)
			}
			var le *loader.Error
			if !errors.As(err, &le) {
				t.Fatalf("error %q carries no *loader.Error", err)
			}
			if le.Pos.Filename != "p.go" || le.Pos.Line != tc.line || le.Pos.Column != tc.col {
				t.Errorf("position = %v, want p.go:%d:%d (error %q)", le.Pos, tc.line, tc.col, err)
			}
			if !strings.HasPrefix(err.Error(), "p.go:") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not start with p.go: or lacks %q", err, tc.msg)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	src := "package p\n//hotpatch:slot bad\nfunc F() {}\n\n//hotpatch:slot a.B\n\nfunc G() {}\n//hotpatch:slot a.C\nfunc H() {}\n"
	_, err := loader.Parse("p.go", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "p.go:2:1: ") || !strings.HasPrefix(lines[1], "p.go:5:1: ") {
		t.Errorf("error = %q, want two problems, at lines 2 and 5, in order", err)
	}
	if !errors.Is(err, loader.ErrBadSlotName) || !errors.Is(err, loader.ErrNotFunc) {
		t.Errorf("error %q does not wrap both causes", err)
	}
}

func TestParseSyntaxErrorsAreBounded(t *testing.T) {
	t.Parallel()
	src := "package p\n" + strings.Repeat("func (\n", 100)
	_, err := loader.Parse("p.go", []byte(src))
	if !errors.Is(err, loader.ErrSyntax) {
		t.Fatalf("error = %v, want ErrSyntax", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > 10 {
		t.Errorf("%d syntax errors reported, want at most 10", n)
	}
}

func TestCheckSlots(t *testing.T) {
	t.Parallel()
	src, err := loader.Parse("greet.go", []byte(okSource))
	if err != nil {
		t.Fatal(err)
	}
	errNoSlot := errors.New("no such slot")
	known := func(names ...string) func(string) error {
		return func(s string) error {
			for _, n := range names {
				if s == n {
					return nil
				}
			}
			return errNoSlot
		}
	}
	if err := src.CheckSlots(known("example.Greet", "shop.Price")); err != nil {
		t.Errorf("all known: %v", err)
	}
	err = src.CheckSlots(known("example.Greet"))
	if !errors.Is(err, errNoSlot) {
		t.Fatalf("error = %v, want the lookup's reason", err)
	}
	if want := "greet.go:15:1: no such slot: shop.Price (func price)"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	err = src.CheckSlots(known())
	if n := strings.Count(err.Error(), "\n") + 1; n != 2 {
		t.Errorf("none known: %d errors, want 2: %v", n, err)
	}
}

func TestPatchID(t *testing.T) {
	t.Parallel()
	a := loader.PatchID("/srv/patches/greet.go", []byte("package p"))
	if !regexp.MustCompile(`^greet\.go-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("PatchID = %q, want greet.go-<12 hex digits>", a)
	}
	if b := loader.PatchID("other/dir/greet.go", []byte("package p")); b != a {
		t.Errorf("same name and bytes: %q != %q", b, a)
	}
	if b := loader.PatchID("greet.go", []byte("package q")); b == a {
		t.Errorf("different bytes gave the same ID %q", b)
	}
	if b := loader.PatchID("hello.go", []byte("package p")); b == a || !strings.HasPrefix(b, "hello.go-") {
		t.Errorf("different name: %q", b)
	}
}

func TestErrorWithoutPosition(t *testing.T) {
	t.Parallel()
	e := &loader.Error{Err: loader.ErrEmpty}
	if e.Error() != "loader: empty file" {
		t.Errorf("Error() = %q", e.Error())
	}
	e = &loader.Error{Pos: token.Position{Filename: "big.go"}, Err: loader.ErrEmpty}
	if e.Error() != "big.go: loader: empty file" {
		t.Errorf("Error() = %q", e.Error())
	}
}
