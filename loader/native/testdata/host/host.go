// Package host stands for the host program's own code in the loader's
// tests: the slots it registers, state that patches reach by importing it
// (Go plugins share package instances with their host), and a function
// that was never registered, for redirection.
package host

import (
	"strings"
	"sync/atomic"

	"github.com/hotpatch-go/hotpatch/registry"
)

// Calls counts calls made by patch code: patches increment it, the test
// reads it, which proves they share this package with the host.
var Calls atomic.Int64

// Slots are the host's patchable functions.
type Slots struct {
	Greet *registry.Func[func(name string) string]
	Add   *registry.Func[func(a, b int) int]
}

// Register registers the host's slots in reg.
func Register(reg *registry.Registry) Slots {
	return Slots{
		Greet: registry.MustRegister(reg, "example.Greet", Greet),
		Add:   registry.MustRegister(reg, "example.Add", func(a, b int) int { return a + b }),
	}
}

// Greet is the baseline implementation of example.Greet.
func Greet(name string) string { return "hello, " + name }

// Shout was never registered; a patch redirects it.
//
//go:noinline
func Shout(s string) string { return strings.ToUpper(s) + "!" }
