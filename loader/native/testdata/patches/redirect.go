package patch

import (
	"strings"

	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
)

// HotpatchRedirects redirects a host function that was never registered.
var HotpatchRedirects = map[string][2]any{
	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host.Shout": {host.Shout, Shout},
}

// Shout whispers now, and panics when asked to: its wrapper reports it.
func Shout(s string) string {
	if s == "panic" {
		panic("the redirected Shout panics")
	}
	return strings.ToLower(s) + "..."
}

// Add serves a slot too: a native patch serves at least one.
//
//hotpatch:slot example.Add
func Add(a, b int) int {
	if a < 0 { // calls the redirected Shout, which panics: reported once, not by both wrappers
		host.Shouter("panic")
	}
	return a*10 + b
}
