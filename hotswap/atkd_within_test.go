package hotswap_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestWithinCountsOnce: a Guard (or a Begin) of a slot given the context
// of a call of that slot that a feeder counts already counts nothing; of
// another slot, or without the mark, it counts.
func TestWithinCountsOnce(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	fa := registry.MustRegister(reg, "t.A", func() error { return nil })
	registry.MustRegister(reg, "t.B", func() error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	bad := func() error { return errors.New("bad") }
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Impls: map[string]any{"t.A": bad, "t.B": bad}}); err != nil {
		t.Fatal(err)
	}
	outer := m.Begin(context.Background(), "t.A")
	ctx := outer.Within(context.Background())
	if err := m.Guard(ctx, "t.A", func() error { return fa.Load()() }); err == nil {
		t.Fatal("Guard hid the error")
	}
	if c := m.Begin(ctx, "t.A"); c.PatchID() != "" || !c.Nested() || c.Within(ctx) != ctx {
		t.Fatalf("nested Begin counts against %q (nested %v), want a nested Call that counts nothing", c.PatchID(), c.Nested())
	}
	if outer.Nested() || m.Begin(ctx, "t.B").Nested() {
		t.Fatal("a call of its own, or of another slot, is nested")
	}
	outer.End(errors.New("bad"))
	pr := m.Status().Stack[0].Probation
	if pr.Calls != 1 || pr.Failures != 1 {
		t.Fatalf("one call, its Guard inside: calls %d, failures %d; want 1 and 1", pr.Calls, pr.Failures)
	}
	// Another slot's feeder inside counts its own call.
	_ = m.Guard(ctx, "t.B", bad)
	if pr := m.Status().Stack[0].Probation; pr.Calls != 2 || pr.Failures != 2 {
		t.Fatalf("a Guard of another slot inside: calls %d, failures %d; want 2 and 2", pr.Calls, pr.Failures)
	}
	if got := (hotswap.Call{}).Within(ctx); got != ctx {
		t.Fatal("the zero Call's Within changed the context")
	}
}

// nilErr is an error type whose nil pointer Error method panics, as many
// do.
type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

// TestGuardTypedNil: a typed nil pointer returned as an error is a non-nil
// error, as Go compares it: it counts, and the rollback it causes records
// an event whose text says so instead of panicking.
func TestGuardTypedNil(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	f := registry.MustRegister(reg, "t.A", func() error { return nil })
	m, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	events, cancel := m.Subscribe(16)
	defer cancel()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Impls: map[string]any{"t.A": func() error {
		var e *nilErr
		return e
	}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Guard(context.Background(), "t.A", func() error { return f.Load()() }); err == nil {
		t.Fatal("Guard returned nil for a typed nil error")
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Type == hotswap.EventRolledBack {
				if e.Err == nil || !errors.Is(e.Err, hotswap.ErrProbationFailed) {
					t.Fatalf("rolled back with %v", e.Err)
				}
				if want := "a nil *hotswap_test.nilErr returned as an error"; !strings.Contains(e.Err.Error(), want) {
					t.Fatalf("rolled back with %q, want it to say %q", e.Err, want)
				}
				return
			}
		case <-timeout:
			t.Fatal("no rollback")
		}
	}
}
