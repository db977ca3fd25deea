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
