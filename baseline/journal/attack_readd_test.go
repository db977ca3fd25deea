package journal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestAttackReaddedAfterRestart: after a restart applied a directory's
// file again, the file is removed (its patch reverted), then put back
// with the same content: it applies again.
func TestAttackReaddedAfterRestart(t *testing.T) {
	t.Parallel()
	state, dir := stateDir(t), t.TempDir()
	opts := journal.Options{PatchDir: dir}
	watch := func(s *server) {
		w, err := patchdir.Watch(context.Background(), s.m, dir, patchdir.Options{Known: s.j.Known, Debounce: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
	}
	writeFile(t, dir, "a.txt", "A")
	s := start(t, state, "exe:A", hotswap.KindScript, opts)
	watch(s)
	waitFor(t, func() bool { return len(s.stack()) == 1 })
	s.sync(t)
	s.stop(t)

	s = start(t, state, "exe:A", hotswap.KindScript, opts)
	if len(s.stack()) != 1 {
		t.Fatalf("stack %v after the restart, want a.txt applied again", s.stack())
	}
	watch(s)
	// The watch has passed over a.txt once b.txt, after it in name
	// order, is applied.
	writeFile(t, dir, "b.txt", "B")
	waitFor(t, func() bool { return len(s.stack()) == 2 })
	os.Remove(filepath.Join(dir, "a.txt"))
	waitFor(t, func() bool { return len(s.stack()) == 1 })
	writeFile(t, dir, "a.txt", "A")
	waitFor(t, func() bool { return len(s.stack()) == 2 && s.greet.Load()() == "A" })
}
