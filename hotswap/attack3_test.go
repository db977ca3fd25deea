package hotswap_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttack3HugeHistorySize: HistorySize is a bound, not a size to
// allocate: a manager asked to keep "everything" (math.MaxInt) must not
// panic in New, nor take memory for events it has not seen.
func TestAttack3HugeHistorySize(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.F", func() int { return 1 })
	m, err := hotswap.New(reg, hotswap.Options{HistorySize: math.MaxInt})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	for i := range 3 {
		id := fmt.Sprint("p", i)
		if _, err := m.Apply(context.Background(), hotswap.Patch{ID: id, Kind: hotswap.KindManual,
			Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
			t.Fatal(err)
		}
	}
	if h := m.History(); len(h) != 3 || h[0].PatchID != "p0" || h[2].PatchID != "p2" {
		t.Fatalf("history %v, want the applies of p0, p1, p2", h)
	}
}

// TestAttack3RecoveredNil: recover() returns nil when nothing panicked
// (since Go 1.21, panic(nil) panics with a *runtime.PanicNilError), so a
// middleware that passes its result straight on,
//
//	defer func() { if err := mgr.Recovered(slot, recover()); err != nil { ... } }()
//
// must not count every request that succeeded as a failure, nor get an
// error for it; nor must a feeder that ends its call with Panic(recover()).
func TestAttack3RecoveredNil(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.F", func() int { return 1 })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "good", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		func() {
			c := m.Begin(context.Background(), "t.F")
			defer func() {
				if err := c.Panic(recover()); err != nil {
					t.Errorf("Call.Panic(nil) = %v, want nil", err)
				}
			}()
		}()
		func() {
			defer func() {
				if err := m.Recovered("t.F", recover()); err != nil {
					t.Errorf("Recovered(slot, nil) = %v, want nil", err)
				}
			}()
		}()
	}
	st := m.Status()
	if p := st.Stack; len(p) != 1 || p[0].Probation.Failures != 0 || p[0].Probation.Calls != 3 {
		t.Fatalf("stack %+v, want patch good with 3 calls and no failure", p)
	}
}

// TestAttack3HugeSubscribeBuffer: a subscriber that asks for a buffer
// large enough never to miss an event (math.MaxInt) must get a working
// subscription, not a panic of make.
func TestAttack3HugeSubscribeBuffer(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.F", func() int { return 1 })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ch, cancel := m.Subscribe(math.MaxInt)
	defer cancel()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.Type != hotswap.EventApplied || e.PatchID != "p" {
		t.Fatalf("first event %v, want the apply of p", e)
	}
}
