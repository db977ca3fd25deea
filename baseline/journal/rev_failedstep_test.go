package journal_test

import (
	"slices"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestFailedStepLeavesNoRecord: a step to a new baseline whose process
// opened the journal and then failed (its readiness check, say) leaves no
// record of that baseline behind once the old process takes the journal
// back. The next step to the same new baseline is a new baseline again:
// every patch of the old one is superseded, including those applied
// after the failed step. The failed process's record made that step a
// restart of the new baseline: a patch applied in between was neither
// superseded (no event; its content not held back, so the patch
// directory applied it on the new baseline) nor carried forward.
func TestFailedStepLeavesNoRecord(t *testing.T) {
	t.Parallel()
	for _, carry := range []bool{false, true} {
		name := "superseded"
		if carry {
			name = "carried forward"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state, src := stateDir(t), t.TempDir()
			opts := journal.Options{CarryForward: carry}
			old := start(t, state, "exe:A", hotswap.KindScript, opts)
			a := old.apply(t, writeFile(t, src, "a.txt", "A"))
			failed := start(t, state, "exe:B", hotswap.KindScript, opts)
			failed.stop(t) // its start-up failed after the journal was open

			b := old.apply(t, writeFile(t, src, "b.txt", "B")) // takes the journal back
			old.stop(t)

			next := start(t, state, "exe:B", hotswap.KindScript, opts)
			if carry {
				if got := next.stack(); !slices.Equal(got, []string{a, b}) {
					t.Errorf("carried forward %v, want [%s %s]", got, a, b)
				}
				return
			}
			var ids []string
			for _, e := range next.events(hotswap.EventSuperseded) {
				ids = append(ids, e.PatchID)
			}
			if !slices.Equal(ids, []string{a, b}) {
				t.Errorf("superseded %v, want [%s %s]", ids, a, b)
			}
			if got := next.stack(); len(got) != 0 {
				t.Errorf("stack %v, want none", got)
			}
		})
	}
}
