// Command demo is the baseline of the CLI tests: it registers a slot,
// loads and applies the native patches named on its command line, and
// prints what the slot answers.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/registry"
)

func main() {
	ctx := context.Background()
	reg := registry.New()
	greet := registry.MustRegister(reg, "demo.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer mgr.Close(ctx)
	l := native.New(native.Options{})
	if err := mgr.Attach(l); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for _, path := range os.Args[1:] {
		p, err := mgr.Load(ctx, l, path)
		if err == nil {
			_, err = mgr.Apply(ctx, p)
		}
		if err != nil {
			fmt.Println("refused:", err)
		}
	}
	fmt.Println(greet.Load()("world"))
}
