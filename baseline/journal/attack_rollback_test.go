package journal_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestAttackRolledBackStaysOffAfterRestart: a patch from the patch
// directory rolled back after repeated failures is not applied again by
// a restart of the same baseline (its file is still there), until its
// file changes.
func TestAttackRolledBackStaysOffAfterRestart(t *testing.T) {
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
	a := s.stack()[0]
	if err := s.m.RollBack(context.Background(), a, errors.New("it kept failing")); err != nil {
		t.Fatal(err)
	}
	s.sync(t)
	s.stop(t)

	s = start(t, state, "exe:A", hotswap.KindScript, opts)
	watch(s)
	writeFile(t, dir, "b.txt", "B") // applied after a.txt in name order
	waitFor(t, func() bool { return len(s.stack()) >= 1 && s.greet.Load()() == "B" })
	if got := s.stack(); slices.Contains(got, a) {
		t.Fatalf("stack %v: the rolled-back %s came back with the restart", got, a)
	}
	writeFile(t, dir, "a.txt", "A, fixed")
	waitFor(t, func() bool { return len(s.stack()) == 2 && s.greet.Load()() == "A, fixed" })
}

// TestAttackRevertedByHandStaysOffAfterRestart: a patch directory file
// whose patch was reverted through the manager (an admin API), the file
// left in place, is not applied again by a restart, until it changes; a
// file removed and put back applies as usual.
func TestAttackRevertedByHandStaysOffAfterRestart(t *testing.T) {
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
	writeFile(t, dir, "c.txt", "C")
	s := start(t, state, "exe:A", hotswap.KindScript, opts)
	watch(s)
	waitFor(t, func() bool { return len(s.stack()) == 2 })
	a, c := s.stack()[0], s.stack()[1]
	if err := s.m.Revert(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "c.txt"))
	waitFor(t, func() bool { return len(s.stack()) == 0 })
	writeFile(t, dir, "c.txt", "C")
	waitFor(t, func() bool { return len(s.stack()) == 1 })
	s.sync(t)
	s.stop(t)

	s = start(t, state, "exe:A", hotswap.KindScript, opts)
	watch(s)
	writeFile(t, dir, "d.txt", "D") // applied after a.txt and c.txt in name order
	waitFor(t, func() bool { return s.greet.Load()() == "D" })
	if got := s.stack(); slices.Contains(got, a) || !slices.Contains(got, c) {
		t.Fatalf("stack %v: want %s (put back) and not %s (reverted by hand)", got, c, a)
	}
}
