package journal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttackCarryForwardSlotGone: a script patch carried forward to a new
// baseline that no longer has its slot is refused, with one rejection
// that names the slot; the server starts, and its next restart does not
// try again.
func TestAttackCarryForwardSlotGone(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	s.apply(t, writeFile(t, src, "a.txt", "A"))
	s.stop(t)

	open := func() (*hotswap.Manager, *journal.Journal) {
		reg := registry.New()
		registry.MustRegister(reg, "example.Other", func() int { return 1 })
		m, err := hotswap.New(reg, hotswap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		if err := m.Attach(textLoader{hotswap.KindScript}); err != nil {
			t.Fatal(err)
		}
		j, err := journal.Open(context.Background(), m, state, journal.Options{Identity: "exe:B", CarryForward: true})
		if err != nil {
			t.Fatalf("Open on a baseline without the patch's slot: %v", err)
		}
		t.Cleanup(func() { j.Close() })
		return m, j
	}
	m, j := open()
	var rej []hotswap.Event
	for _, e := range m.History() {
		if e.Type == hotswap.EventRejected {
			rej = append(rej, e)
		}
	}
	if len(rej) != 1 || !strings.Contains(rej[0].Err.Error(), "example.Greet") {
		t.Fatalf("rejections %v, want one saying the slot example.Greet is missing", rej)
	}
	if len(m.Status().Stack) != 0 {
		t.Fatalf("stack %v", m.Status().Stack)
	}
	j.Close()
	m.Close(context.Background())

	m, _ = open()
	for _, e := range m.History() {
		if e.Type == hotswap.EventRejected || e.Type == hotswap.EventSuperseded {
			t.Errorf("the restart of the new baseline reports again: %v", e)
		}
	}
}
