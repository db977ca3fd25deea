package journal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestRequireReplayCarriedForward: RequireReplay is for a restart of the
// same baseline, which must be invisible. A patch carried forward to a
// new baseline (Options.CarryForward) that the new baseline refuses (its
// slot is gone or changed type: the new baseline changed that code) is
// reported and left out, as without RequireReplay; it does not fail
// Open, or every step to the new baseline would fail until the patch was
// reverted by hand.
func TestRequireReplayCarriedForward(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	s.apply(t, writeFile(t, src, "a.txt", "A"))
	s.stop(t)

	reg := registry.New()
	// The new baseline changed the slot's type.
	registry.MustRegister(reg, "example.Greet", func(string) string { return "new baseline" })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	if err := m.Attach(textLoader{hotswap.KindScript}); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(context.Background(), m, state, journal.Options{Identity: "exe:B", CarryForward: true, RequireReplay: true})
	if err != nil {
		t.Fatalf("Open of a new baseline whose slot changed type, with RequireReplay: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	var rej []hotswap.Event
	for _, e := range m.History() {
		if e.Type == hotswap.EventRejected {
			rej = append(rej, e)
		}
	}
	if len(rej) != 1 || !strings.Contains(rej[0].Err.Error(), "example.Greet") {
		t.Errorf("rejections %v, want one naming example.Greet", rej)
	}
	if st := m.Status().Stack; len(st) != 0 {
		t.Errorf("stack %v, want none", st)
	}
}
