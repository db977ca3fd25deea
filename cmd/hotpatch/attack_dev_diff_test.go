package main

import (
	"strings"
	"testing"
)

// TestAttackDevRepeatedDecls: declarations that share a key — two init
// funcs, "var _ I = (*T)(nil)" assertions, import "C" next to an import
// block — are compared each with its own counterpart, so a slot body
// edit in such a file stays hot, and a change to the second of them is
// still seen.
func TestAttackDevRepeatedDecls(t *testing.T) {
	const base = `package shop

import "C"

import (
	"fmt"
	"io"
)

var _ io.Reader = (*R)(nil)
var _ fmt.Stringer = (*R)(nil)

func init() { fmt.Println("one") }
func init() { fmt.Println("two") }

// Greet backs a slot.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return "hello, " + name
}
`
	for _, tt := range []struct {
		name, old, new string
		reason         string
	}{
		{name: "slot body", old: `"hello, "`, new: `"hi, "`},
		{name: "second init", old: `"two"`, new: `"three"`, reason: "func init changed"},
		{name: "second var _", old: "var _ fmt.Stringer", new: "var _ fmt.Formatter", reason: "var _ changed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			of, err := parseSrc("shop/shop.go", []byte(base))
			if err != nil {
				t.Fatal(err)
			}
			nf, err := parseSrc("shop/shop.go", []byte(strings.Replace(base, tt.old, tt.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			edits, reason := compareFile(of, nf)
			if tt.reason == "" {
				if reason != "" || len(edits) != 1 {
					t.Errorf("a slot body edit: edits %d, reason %q; want hot", len(edits), reason)
				}
				return
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", reason, tt.reason)
			}
		})
	}
}

// TestAttackDevImports: editors that run goimports on save add the import
// a slot body starts to use, drop the one it stopped using, and regroup
// the block. Those edits stay hot; an import nothing uses, and an edit of
// the C code of a cgo preamble, do not.
func TestAttackDevImports(t *testing.T) {
	const base = `package shop

/*
int answer(void) { return 42; }
*/
import "C"

import (
	"fmt"
	"strings"
)

// Greet backs a slot.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return fmt.Sprint("hello, ", strings.ToUpper(name))
}

func other() string { return strings.ToLower("X") }
`
	for _, tt := range []struct {
		name   string
		edit   func(string) string
		reason string
	}{
		{name: "import added for a slot body", edit: func(s string) string {
			s = strings.Replace(s, "\t\"fmt\"\n", "\t\"fmt\"\n\t\"os\"\n", 1)
			return strings.Replace(s, `"hello, "`, `os.Getenv("GREETING")`, 1)
		}},
		{name: "import dropped with its last use", edit: func(s string) string {
			s = strings.Replace(s, "\t\"fmt\"\n", "", 1)
			return strings.Replace(s, `fmt.Sprint("hello, ", strings.ToUpper(name))`, `"hello, " + strings.ToUpper(name)`, 1)
		}},
		{name: "block regrouped", edit: func(s string) string {
			return strings.Replace(s, "import (\n\t\"fmt\"\n\t\"strings\"\n)", "import \"strings\"\n\nimport \"fmt\"", 1)
		}},
		{name: "import nothing uses", edit: func(s string) string {
			return strings.Replace(s, "\t\"fmt\"\n", "\t\"fmt\"\n\t\"os\"\n", 1)
		}, reason: "imports changed"},
		{name: "import dropped that other code uses", edit: func(s string) string {
			s = strings.Replace(s, "\t\"strings\"\n", "", 1)
			return strings.Replace(s, `strings.ToUpper(name)`, `name`, 1)
		}, reason: "imports changed"},
		{name: "cgo preamble", edit: func(s string) string {
			return strings.Replace(s, "return 42;", "return 43;", 1)
		}, reason: "cgo preamble"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			of, err := parseSrc("shop/shop.go", []byte(base))
			if err != nil {
				t.Fatal(err)
			}
			nf, err := parseSrc("shop/shop.go", []byte(tt.edit(base)))
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
			for _, e := range edits {
				pkg := pkgInfo{name: "shop", path: "example.com/m/shop", names: map[string]bool{}}
				collectNames(nf.file, pkg.names)
				if _, why := script(e, pkg); why != "" {
					t.Errorf("no script: %s", why)
				}
			}
		})
	}
}
