package journal_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackCrashBetweenCopyAndRename: a crash after a patch's copy was
// kept and while the journal's temporary file was being written leaves
// the old journal, a copy no record names, the temporary file and the
// killed process's owner file; the next start applies the old stack, and
// removes the rest.
func TestAttackCrashBetweenCopyAndRename(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	s.stop(t)
	orphan := filepath.Join(state, "blobs", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, orphan, "b.txt", "B")
	temp := writeFile(t, state, "journal.tmp-12345", `{"version": 1, "current": "exe:A", "basel`)
	owner := writeFile(t, state, "owner.1234-0123456789abcdef", "") // of a process killed, not locked

	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("stack %v, want [%s]", got, a)
	}
	for _, p := range []string{orphan, temp, owner} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}

// TestAttackPatchNamedLikeATemporaryFile: a patch whose file name looks
// like a temporary file of a write cut short keeps its copy at the next
// start, and is applied again.
func TestAttackPatchNamedLikeATemporaryFile(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "fix.tmp-2.txt", "A"))
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("stack %v, want [%s]; events %v", got, a, s.hist())
	}
}
