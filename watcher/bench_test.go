package watcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// BenchmarkWriteToEvent measures from a write-then-rename of a patch file
// to its Apply event, with a 1 ms debounce; the figure minus the debounce
// is the watcher's own cost (fsnotify, timer, hashing, delivery).
func BenchmarkWriteToEvent(b *testing.B) {
	for _, files := range []int{1, 100} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			dir := b.TempDir()
			src := make([]byte, 2048) // a 50-line script
			for i := range files - 1 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("other%03d.go", i)), src, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			w, err := watcher.New(dir, watcher.Options{Debounce: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			for range files - 1 {
				<-w.Events()
			}

			path := filepath.Join(dir, "greet.go")
			tmp := filepath.Join(dir, ".greet.go.tmp")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				copy(src, fmt.Sprintf("package patch // version %d\n", i))
				if err := os.WriteFile(tmp, src, 0o644); err != nil {
					b.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					b.Fatal(err)
				}
				select {
				case ev := <-w.Events():
					if ev.Name != "greet.go" || ev.Op != watcher.Apply {
						b.Fatalf("got %v %s", ev.Op, ev.Name)
					}
				case <-time.After(patience):
					b.Fatal("no event")
				}
			}
		})
	}
}
