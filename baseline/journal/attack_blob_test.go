package journal_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackBlobModified: a kept copy changed behind the journal's back
// (same size, other bytes) is not applied at the restart, which says
// why; when the patch is applied again from its file, the bad copy is
// replaced, and the next restart applies it.
func TestAttackBlobModified(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	path := writeFile(t, src, "a.txt", "A, the fix")
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, path)
	s.stop(t)
	blobs, _ := filepath.Glob(filepath.Join(state, "blobs", "*", "a.txt"))
	if len(blobs) != 1 {
		t.Fatalf("kept copies %v, want one", blobs)
	}
	if err := os.WriteFile(blobs[0], []byte("A, evil!!!"), 0o700); err != nil {
		t.Fatal(err)
	}

	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	rej := s.events(hotswap.EventRejected)
	if len(s.stack()) != 0 || len(rej) != 1 || !strings.Contains(rej[0].Err.Error(), "does not hold the content recorded") {
		t.Fatalf("stack %v, rejections %v; want the changed copy refused, saying why", s.stack(), rej)
	}
	if got := s.greet.Load()(); got != "baseline" {
		t.Fatalf("greet serves %q", got)
	}
	s.apply(t, path)
	s.stop(t)

	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("stack %v after the patch was applied again from its file, want [%s]; events %v", got, a, s.hist())
	}
}
