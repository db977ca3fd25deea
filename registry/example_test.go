package registry_test

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/registry"
)

func Example() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string {
		return "hello, " + name
	})

	// Call through the slot on every use: a swap takes effect on the next call.
	fmt.Println(greet.Load()("gopher"))

	// The rest of the framework sees slots through their type-erased view.
	for _, s := range reg.Slots() {
		fmt.Println(s.Name(), s.Type(), s.Info().PatchID == "")
	}
	// Output:
	// hello, gopher
	// example.Greet func(string) string true
}
