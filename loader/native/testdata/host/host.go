// Package host stands for the host program's own code in the loader's
// tests: the slots it registers, state that patches reach by importing it
// (Go plugins share package instances with their host), and a function
// that was never registered, for redirection.
package host

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/hotpatch-go/hotpatch/registry"
)

// Calls counts calls made by patch code: patches increment it, the test
// reads it, which proves they share this package with the host.
var Calls atomic.Int64

// Current is the Slots the running test registered, for patches that call
// slots through the registry.
var Current atomic.Pointer[Slots]

// Slots are the host's patchable functions.
type Slots struct {
	Greet *registry.Func[func(name string) string]
	Add   *registry.Func[func(a, b int) int]

	// Slots of other shapes, for the wrappers a patch build generates.
	Identity *registry.Func[func(string) string]
	Join     *registry.Func[func(sep string, parts ...string) string]
	Split    *registry.Func[func(s string) (head string, rest []string, err error)]
	Serve    *registry.Func[func(context.Context, *Request) (Reply, error)]
	Note     *registry.Func[func(string, ...any)]
}

// Request and Reply are types of the host's package in slot types: a
// patch names them through its import of this package.
type (
	Request struct{ Name string }
	Reply   struct{ Text string }
)

// Register registers the host's slots in reg.
func Register(reg *registry.Registry) Slots {
	return Slots{
		Greet: registry.MustRegister(reg, "example.Greet", Greet),
		Add:   registry.MustRegister(reg, "example.Add", func(a, b int) int { return a + b }),

		Identity: registry.MustRegister(reg, "example.Identity", func(s string) string { return s }),
		Join:     registry.MustRegister(reg, "example.Join", func(sep string, parts ...string) string { return strings.Join(parts, sep) }),
		Split: registry.MustRegister(reg, "example.Split", func(s string) (string, []string, error) {
			f := strings.Fields(s)
			if len(f) == 0 {
				return "", nil, nil
			}
			return f[0], f[1:], nil
		}),
		Serve: registry.MustRegister(reg, "example.Serve", func(_ context.Context, r *Request) (Reply, error) {
			return Reply{Text: "hello, " + r.Name}, nil
		}),
		Note: registry.MustRegister(reg, "example.Note", func(string, ...any) {}),
	}
}

// Greet is the baseline implementation of example.Greet.
func Greet(name string) string { return "hello, " + name }

// Shout was never registered; a patch redirects it.
//
//go:noinline
func Shout(s string) string { return strings.ToUpper(s) + "!" }

// Shouter is Shout as the host's own code calls it. A patch that calls
// host.Shout directly runs the plugin's copy of the function, which no
// redirection rewrites; through this variable, set by the host, it runs
// the host's, provided the host binary refers to the variable (the linker
// drops it otherwise, and the plugin's own copy is read instead).
var Shouter = Shout
