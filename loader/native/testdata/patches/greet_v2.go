package patch

import "github.com/hotpatch-go/hotpatch/loader/native/testdata/host"

// Greet counts its calls in the host's own state.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	host.Calls.Add(1)
	return "v2, " + name
}
