package patch

import "github.com/hotpatch-go/hotpatch/loader/native/testdata/host"

// Greet counts its calls in the host's own state, and panics for the
// name "panic".
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	host.Calls.Add(1)
	if name == "panic" { // for the test of failure reports
		panic("v2 cannot greet " + name)
	}
	return "v2, " + name
}
