package watcher_test

import (
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

func Example() {
	dir, err := os.MkdirTemp("", "patches")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A patch left from before a restart, and files that are not patches.
	greet := filepath.Join(dir, "greet.go")
	os.WriteFile(greet, []byte("package patch // v1"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("notes"), 0o644)
	os.WriteFile(filepath.Join(dir, ".greet.go.swp"), []byte("vim"), 0o644)

	w, err := watcher.New(dir, watcher.Options{
		Debounce: 20 * time.Millisecond,
		Match: func(name string) bool {
			switch filepath.Ext(name) {
			case ".go", ".so", ".proc":
				return true
			}
			return false
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	ev := <-w.Events() // the initial scan
	fmt.Println(ev.Op, ev.Name)
	ev = <-w.Events() // the initial scan is complete
	fmt.Println(ev.Op)

	// Replace it the safe way: write a temporary file, rename it over.
	tmp := filepath.Join(dir, ".greet.go.tmp")
	os.WriteFile(tmp, []byte("package patch // v2"), 0o644)
	os.Rename(tmp, greet)
	ev = <-w.Events()
	fmt.Println(ev.Op, ev.Name)

	os.Remove(greet)
	ev = <-w.Events()
	fmt.Println(ev.Op, ev.Name)

	// Output:
	// Apply greet.go
	// Synced
	// Apply greet.go
	// Remove greet.go
}

// A consumer verifies that the bytes it loads are the ones the watcher
// saw settle; if not, the file changed again and another event follows.
func Example_verify() {
	dir, err := os.MkdirTemp("", "patches")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "greet.go"), []byte("package patch"), 0o644)

	w, err := watcher.New(dir, watcher.Options{Debounce: 20 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	ev := <-w.Events()
	src, err := os.ReadFile(ev.Path)
	if err != nil || sha256.Sum256(src) != ev.Sum {
		return // changed or gone since; wait for the next event
	}
	fmt.Printf("load %s (%d bytes)\n", ev.Name, len(src))

	// Output:
	// load greet.go (13 bytes)
}
