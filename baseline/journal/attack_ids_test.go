package journal_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackUnrecordableID: a patch handed over in code with an ID the
// journal cannot hold (a line break in it) is left out of the record,
// with an error event; the patches around it are recorded and applied
// again at the restart, and the journal is not moved aside.
func TestAttackUnrecordableID(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	if _, err := s.m.Apply(context.Background(), hotswap.Patch{ID: "hand\nmade", Kind: hotswap.KindManual,
		Impls: map[string]any{"example.Greet": func() string { return "hand" }}}); err != nil {
		t.Fatal(err)
	}
	b := s.apply(t, writeFile(t, src, "b.txt", "B"))
	if ev := s.events(journal.EventError); len(ev) != 1 || !strings.Contains(ev[0].Err.Error(), "not recorded") {
		t.Errorf("journal-error events %v, want one saying the patch is not recorded", ev)
	}
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("after a restart: stack %v, want [%s %s]; events %v", got, a, b, s.hist())
	}
}
