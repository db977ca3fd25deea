package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// A patch applied on the first start is applied again when the same
// baseline starts again, before Open returns, although its file is gone.
func Example() {
	ctx := context.Background()
	root, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(root)
	state := filepath.Join(root, "state") // created, mode 0700
	src := filepath.Join(root, "greet.go")
	os.WriteFile(src, []byte(`package patch

//hotpatch:slot example.Greet
func Greet(name string) string { return "welcome back, " + name }
`), 0o644)

	for _, run := range []string{"first start", "restart"} {
		reg := registry.New()
		greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n })
		mgr, _ := hotswap.New(reg, hotswap.Options{})
		mgr.Attach(script.New(script.Options{}))
		j, err := journal.Open(ctx, mgr, state, journal.Options{Identity: "example-baseline"})
		if err != nil {
			fmt.Println(err)
			return
		}
		if run == "first start" {
			p, _ := mgr.Load(ctx, mgr.Loaders()[0], src)
			mgr.Apply(ctx, p)
			j.Sync(ctx) // on disk now
			os.Remove(src)
		}
		fmt.Printf("%s: %s\n", run, greet.Load()("reader"))
		j.Close()
		mgr.Close(ctx)
	}
	// Output:
	// first start: welcome back, reader
	// restart: welcome back, reader
}
