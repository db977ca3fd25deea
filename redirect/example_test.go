package redirect_test

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/redirect"
)

//go:noinline
func greet(name string) string { return "hello, " + name }

// Redirect a function that was never registered as a slot, then put it
// back. (Not run as a test: it rewrites the test binary's code, and
// returns ErrNotSupported off linux/amd64 and linux/arm64.)
func ExampleRedirect() {
	r, err := redirect.Redirect(greet, func(name string) string { return "hello again, " + name })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(greet("gopher"))
	if err := r.Restore(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(greet("gopher"))
}
