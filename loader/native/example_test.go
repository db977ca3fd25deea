package native_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/registry"
)

// A file that is not a native patch is refused before anything is mapped.
func ExampleLoader_Load() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	l := native.New(reg, native.Options{})
	defer l.Close()

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greet.so")
	os.WriteFile(path, []byte("not an ELF file"), 0o644)

	_, err := l.Load(context.Background(), path)
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
	mgr := hotswap.New(reg, hotswap.Options{})
	defer mgr.Close()
	l := native.New(reg, native.Options{})
	defer l.Close()

	dir, _ := os.MkdirTemp("", "patches")
	defer os.RemoveAll(dir)
	w, err := hotswap.WatchDir(context.Background(), mgr, dir, l)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	fmt.Println(l.Kind(), l.Match("greet.so"), l.Match("greet.go"))
	// Output:
	// native true false
}
