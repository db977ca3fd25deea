package patchdir_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestKnown checks Options.Known: content applied already counts as its
// patch (an edit replaces it, a removal reverts it), and content to stay
// unapplied is not loaded, and takes down what the file held before.
func TestKnown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	// "pre" stands for a patch a journal applied again before the watch.
	pre := hotswap.Patch{ID: "a.word-pre", Kind: hotswap.KindScript, Impls: map[string]any{"example.Greet": func(n string) string { return "pre, " + n }}}
	if _, err := f.m.Apply(context.Background(), pre); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "a.word", "hi")
	writeAtomic(t, dir, "b.word", "superseded")
	var mu sync.Mutex
	asked := map[string]int{}
	known := func(path string, sum [sha256.Size]byte) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked[filepath.Base(path)]++
		switch sum {
		case sha256.Sum256([]byte("hi")):
			return "a.word-pre", true
		case sha256.Sum256([]byte("superseded")):
			return "", true
		}
		return "", false
	}
	l := &wordLoader{}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, Known: known}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeAtomic(t, dir, "c.word", "see") // applies after a and b: they were passed over
	waitFor(t, func() bool { return f.greet.Load()("x") == "see, x" })
	if n := l.loads.Load(); n != 1 {
		t.Fatalf("%d loads, want only c.word's", n)
	}
	if st := f.m.Status(); len(st.Stack) != 2 || st.Stack[0].ID != "a.word-pre" {
		t.Fatalf("stack %v, want a.word-pre and c.word", st.Stack)
	}
	// A removal of a.word reverts the patch it counts as.
	os.Remove(filepath.Join(dir, "a.word"))
	waitFor(t, func() bool { return len(f.m.Status().Stack) == 1 })
	// b.word edited applies; set back to the superseded content, it is
	// taken down again.
	writeAtomic(t, dir, "b.word", "edited")
	waitFor(t, func() bool { return len(f.m.Status().Stack) == 2 })
	writeAtomic(t, dir, "b.word", "superseded")
	waitFor(t, func() bool { return len(f.m.Status().Stack) == 1 && f.greet.Load()("x") == "see, x" })
	mu.Lock()
	defer mu.Unlock()
	if asked["a.word"] != 1 || asked["b.word"] != 3 {
		t.Fatalf("Known asked %v", asked)
	}
}
