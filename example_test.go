package hotpatch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// A server embeds the framework, registers a slot, and serves a script
// dropped into its patch directory.
func Example() {
	dir, err := os.MkdirTemp("", "patches")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	hp, err := hotpatch.New(hotpatch.Options{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	greet := hotpatch.MustRegister(hp, "example.Greet", func(name string) string { return "hello, " + name })
	defer hp.Close(context.Background())

	fmt.Println(greet.Load()("gopher"))

	// Events tell when the patch serves; a server does not need to wait.
	events, cancel := hp.Manager().Subscribe(8)
	defer cancel()
	if err := hp.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	script := `package patch

//hotpatch:slot example.Greet
func Greet(name string) string { return "hello again, " + name }
`
	if err := os.WriteFile(filepath.Join(dir, "greet.go"), []byte(script), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	for e := range events {
		if e.Type == hotswap.EventApplied || e.Type == hotswap.EventRejected {
			fmt.Println(e.Type, e.Slots)
			break
		}
	}
	fmt.Println(greet.Load()("gopher"))
	// Output:
	// hello, gopher
	// applied [example.Greet]
	// hello again, gopher
}
