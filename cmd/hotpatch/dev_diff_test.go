package main

import (
	"strings"
	"testing"
)

const devBase = `package shop

import (
	"fmt"
	"strings"
)

// Book is a title.
type Book struct{ Title string }

// BulkQty is exported.
const BulkQty = 10

func helper(s string) string { return s }

// Greet backs a slot.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return "hello, " + name
}

// Title backs a slot.
//
//hotpatch:slot shop.Title
func TitleOf(b Book) string {
	return fmt.Sprint(b.Title)
}

func other() int { return 1 }
`

// TestDevDecide: the decision rule, edit by edit.
func TestDevDecide(t *testing.T) {
	for _, tt := range []struct {
		name, old, new string
		hot            []string // slots patched, when hot
		reason         string   // part of the reason, when not
	}{
		{name: "body", old: `return "hello, " + name`, new: `return "hi, " + strings.ToUpper(name)`, hot: []string{"example.Greet"}},
		{name: "comment in a body", old: `return "hello, " + name`, new: `return "hello, " + name // a comment`, hot: nil},
		{name: "whitespace outside", old: "func other() int { return 1 }", new: "func other() int {\n\treturn 1\n}", hot: nil},
		{name: "two bodies", old: `return fmt.Sprint(b.Title)`, new: `return strings.ToLower(b.Title)`, hot: []string{"shop.Title"}},
		{name: "non-slot body", old: "return 1", new: "return 2", reason: "func other changed"},
		{name: "signature", old: "func Greet(name string) string", new: "func Greet(name string, n ...int) string", reason: "func Greet changed outside its body"},
		{name: "new type", old: "// Book is a title.", new: "type Coupon struct{}\n\n// Book is a title.", reason: "new type Coupon"},
		{name: "new import", old: `"strings"`, new: "\"strings\"\n\t\"os\"", reason: "imports changed"},
		{name: "const", old: "BulkQty = 10", new: "BulkQty = 11", reason: "const BulkQty changed"},
		{name: "directive", old: "//hotpatch:slot shop.Title", new: "//hotpatch:slot shop.Name", reason: "func TitleOf changed outside its body"},
		{name: "removed func", old: "func other() int { return 1 }", new: "", reason: "func other removed"},
		{name: "go directive", old: "func other() int", new: "//go:noinline\nfunc other() int", reason: "func other changed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			of, err := parseSrc("shop/shop.go", []byte(devBase))
			if err != nil {
				t.Fatal(err)
			}
			nf, err := parseSrc("shop/shop.go", []byte(strings.Replace(devBase, tt.old, tt.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			edits, reason := compareFile(of, nf)
			if tt.reason != "" {
				if !strings.Contains(reason, tt.reason) {
					t.Errorf("reason %q, want it to say %q", reason, tt.reason)
				}
				return
			}
			if reason != "" {
				t.Fatalf("not hot: %s", reason)
			}
			var got []string
			for _, e := range edits {
				got = append(got, e.slot)
			}
			if strings.Join(got, ",") != strings.Join(tt.hot, ",") {
				t.Errorf("patched %v, want %v", got, tt.hot)
			}
		})
	}
}

// TestDevScript: the script of a changed body, or why there is none.
func TestDevScript(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       []string // in the script
		reason     string
	}{
		{name: "stdlib", body: `return "hi, " + strings.ToUpper(name)`,
			want: []string{"package patch", "import (\n\t\"strings\"\n)", "//hotpatch:slot example.Greet\nfunc Greet(name string) string {", `strings.ToUpper(name)`}},
		{name: "exported name qualified", body: `return fmt.Sprint(name, BulkQty, Book{Title: name})`,
			want: []string{"\"example.com/m/shop\"", "\"fmt\"", "shop.BulkQty", "shop.Book{Title: name}"}},
		{name: "local shadows", body: "BulkQty := 3\n\treturn fmt.Sprint(name, BulkQty)", want: []string{"BulkQty := 3", "fmt.Sprint(name, BulkQty)"}},
		{name: "unexported", body: `return helper(name)`, reason: "uses helper, unexported in package shop"},
		{name: "key like a package name", body: `return fmt.Sprint(Book{TitleOf: name})`, reason: "TitleOf is a key"},
		{name: "no imports", body: `return name`, want: []string{"package patch\n\n//hotpatch:slot example.Greet\nfunc Greet"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(devBase, `return "hello, " + name`, tt.body, 1)
			f, err := parseSrc("shop/shop.go", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			of, _ := parseSrc("shop/shop.go", []byte(devBase))
			edits, reason := compareFile(of, f)
			if reason != "" || len(edits) != 1 {
				t.Fatalf("edits %v, reason %q", edits, reason)
			}
			pkg := pkgInfo{name: "shop", path: "example.com/m/shop", names: map[string]bool{}}
			collectNames(f.file, pkg.names)
			got, why := script(edits[0], pkg)
			got = withoutLines(got)
			if tt.reason != "" {
				if !strings.Contains(why, tt.reason) || !strings.Contains(why, "shop/shop.go:") {
					t.Errorf("reason %q, want it to say %q with the position", why, tt.reason)
				}
				return
			}
			if why != "" {
				t.Fatalf("no script: %s", why)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("script lacks %q:\n%s", w, got)
				}
			}
			if _, err := parseSrc("patch.go", got); err != nil {
				t.Errorf("script does not parse: %v\n%s", err, got)
			}
		})
	}
}

// TestDevWatched: editors' temporary files and tests are not watched.
func TestDevWatched(t *testing.T) {
	for name, want := range map[string]bool{
		"shop.go": true, "go.mod": true, "go.sum": true, "shop_test.go": false, ".shop.go.swp": false,
		"shop.go~": false, "#shop.go#": false, ".#shop.go": false, "4913": false, "shop.go.tmp": false, ".shop.go": false,
	} {
		if got := watched(name); got != want {
			t.Errorf("watched(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzDevTokens: the comparison of any source never panics, and a source
// compared with itself is hot with nothing to patch.
func FuzzDevTokens(f *testing.F) {
	f.Add(devBase)
	f.Fuzz(func(t *testing.T, src string) {
		_ = tokens([]byte(src))
		sf, err := parseSrc("f.go", []byte(src))
		if err != nil {
			return
		}
		if edits, reason := compareFile(sf, sf); len(edits) != 0 || reason != "" {
			t.Fatalf("a file differs from itself: %v %q", edits, reason)
		}
	})
}
