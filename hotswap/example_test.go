package hotswap_test

import (
	"context"
	"fmt"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// This is the README quick start: register a slot, apply a patch, revert it.
func Example() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string {
		return "hello, " + name
	})

	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	defer mgr.Close(context.Background())

	fmt.Println(greet.Load()("gopher"))

	ctx := context.Background()
	applied, err := mgr.Apply(ctx, hotswap.Patch{
		ID:   "greet-v2",
		Kind: hotswap.KindManual,
		Impls: map[string]any{
			"example.Greet": func(name string) string { return "hello again, " + name },
		},
	})
	if err != nil {
		fmt.Println("apply:", err)
		return
	}
	fmt.Println(greet.Load()("gopher"), "- generation", applied.Generation)

	if err := mgr.Revert(ctx, "greet-v2"); err != nil {
		fmt.Println("revert:", err)
		return
	}
	fmt.Println(greet.Load()("gopher"), "- generation", mgr.Generation())
	// Output:
	// hello, gopher
	// hello again, gopher - generation 1
	// hello, gopher - generation 2
}

// A patch whose implementation has the wrong type is refused, and the
// previous version keeps serving.
func ExampleManager_Apply_typeMismatch() {
	reg := registry.New()
	price := registry.MustRegister(reg, "billing.Price", func(cents int) int { return cents })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	defer mgr.Close(context.Background())

	_, err = mgr.Apply(context.Background(), hotswap.Patch{
		ID:    "price-v2",
		Impls: map[string]any{"billing.Price": func(cents int64) int64 { return cents * 2 }},
	})
	fmt.Println(err)
	fmt.Println(price.Load()(100))
	// Output:
	// apply patch "price-v2": hotswap: slot billing.Price: implementation has type func(int64) int64, slot has type func(int) int
	// 100
}
