package native_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

// A file that is not a native patch is refused before anything is mapped.
func ExampleLoader_Load() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background())
	l := native.New(native.Options{})
	defer l.Close(context.Background())

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greet.so")
	os.WriteFile(path, []byte("not an ELF file"), 0o644)

	_, err = l.Load(context.Background(), mgr, path)
	fmt.Println(errors.Is(err, native.ErrNotPatch))
	used, limit := l.Memory()
	fmt.Println(used, limit>>20, "MiB")
	// Output:
	// true
	// 0 256 MiB
}

// The loader plugs into a directory watch: .so files dropped into the
// directory are checked, opened and applied; removing one reverts it.
func ExampleLoader_watch() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background()) // closes the loader too
	l := native.New(native.Options{})
	if err := mgr.Attach(l); err != nil {
		fmt.Println(err)
		return
	}

	dir, _ := os.MkdirTemp("", "patches")
	defer os.RemoveAll(dir)
	w, err := patchdir.Watch(context.Background(), mgr, dir, patchdir.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	fmt.Println(l.Kind(), l.Match("greet.so"), l.Match("greet.go"))
	// Output:
	// native true false
}
