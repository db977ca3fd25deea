package hotswap_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestRatioExactlyAtThreshold: failures that are exactly Ratio of the
// calls roll the patch back, as "failures >= Ratio * calls" says, also for
// ratios whose product with the calls is not exact in floating point
// (0.07 * 100 is 7.000000000000001); one failure fewer does not.
func TestRatioExactlyAtThreshold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ratio           float64
		calls, failures int
		rolledBack      bool
	}{
		{0.07, 100, 7, true},
		{0.07, 100, 6, false},
		{0.1, 30, 3, true},
		{0.1, 30, 2, false},
		{0.29, 100, 29, true},
		{0.57, 100, 57, true},
		{1, 20, 20, true},
		{1, 20, 19, false},
	} {
		m, _ := checkedFixture(t, hotswap.RollbackPolicy{Ratio: tc.ratio, MinCalls: tc.calls, Window: time.Hour})
		mustApply(t, m, hotswap.Patch{ID: "p", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
		ctx := context.Background()
		for range tc.calls - tc.failures {
			m.Begin(ctx, "billing.Charge").End(nil)
		}
		for range tc.failures {
			m.Begin(ctx, "billing.Charge").End(errors.New("failed"))
		}
		st := m.Status()
		got := len(st.Stack) == 0 || st.Stack[0].Probation.State == hotswap.ProbationRolledBack
		if got != tc.rolledBack {
			t.Errorf("Ratio %v, %d failures in %d calls: rolled back = %v, want %v", tc.ratio, tc.failures, tc.calls, got, tc.rolledBack)
		}
	}
}

// TestGuardNilFunc: Guard with a nil func is the caller's mistake, not a
// failure of the patch serving the slot: it returns an error and counts
// nothing.
func TestGuardNilFunc(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: time.Hour})
	mustApply(t, m, hotswap.Patch{ID: "p", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	err := m.Guard(context.Background(), "billing.Charge", nil)
	if err == nil {
		t.Fatal("Guard(nil) = nil, want an error")
	}
	if p := patchInfo(t, m, "p").Probation; p.State != hotswap.ProbationActive || p.Calls != 0 || p.Failures != 0 {
		t.Fatalf("Guard(nil) counted against the patch: %+v (err %v)", p, err)
	}
}

// TestRatioBelowMinCallsCommits pins the documented end of a window: with
// Ratio only, a patch that served fewer than MinCalls calls is committed,
// however many of them failed.
func TestRatioBelowMinCallsCommits(t *testing.T) {
	t.Parallel()
	// The 9 calls must land inside the window, also under -race on a
	// loaded machine.
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Ratio: 0.5, MinCalls: 10, Window: 500 * time.Millisecond})
	events, cancel := m.Subscribe(16)
	defer cancel()
	mustApply(t, m, hotswap.Patch{ID: "few", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	for range 9 {
		m.Begin(context.Background(), "billing.Charge").End(errors.New("failed"))
	}
	c := waitEvent(t, events, hotswap.EventCommitted, "few")
	if c.Probation.Calls != 9 || c.Probation.Failures != 9 || c.Probation.State != hotswap.ProbationCommitted {
		t.Fatalf("committed evidence %+v", c.Probation)
	}
}

// TestEndAfterVersionGone: a call that began on a patch and ends after
// the patch was reverted counts against that patch, rolls nothing back
// (its probation is over), and does not touch its successor.
func TestEndAfterVersionGone(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: time.Hour})
	ctx := context.Background()
	mustApply(t, m, hotswap.Patch{ID: "old", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	c := m.Begin(ctx, "billing.Charge")
	if err := m.Revert(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	mustApply(t, m, hotswap.Patch{ID: "new", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	c.End(errors.New("late"))
	c.End(errors.New("late again")) // a second End is the caller's bug; it still touches only "old"
	var zero hotswap.Call
	zero.End(errors.New("zero token"))
	_ = zero.Panic("zero token")
	if p := patchInfo(t, m, "new").Probation; p.State != hotswap.ProbationActive || p.Calls != 0 || p.Failures != 0 {
		t.Fatalf("successor's probation = %+v", p)
	}
	for _, e := range m.History() {
		if e.Type == hotswap.EventRolledBack {
			t.Fatalf("unexpected %v", e)
		}
	}
}

// TestReplacesDuringProbation: a patch replaced on probation is neither
// committed nor rolled back; its successor starts a probation of its own
// from zero, and a late failure of the replaced patch's call does not
// touch it.
func TestReplacesDuringProbation(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 2, Window: time.Hour})
	ctx := context.Background()
	mustApply(t, m, hotswap.Patch{ID: "a", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	m.Begin(ctx, "billing.Charge").End(errors.New("first"))
	slow := m.Begin(ctx, "billing.Charge")
	mustApply(t, m, hotswap.Patch{ID: "b", Replaces: "a", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	slow.End(errors.New("second, late")) // a's second failure: a is gone, nothing to roll back
	if p := patchInfo(t, m, "b").Probation; p.State != hotswap.ProbationActive || p.Calls != 0 || p.Failures != 0 {
		t.Fatalf("successor's probation = %+v", p)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.History() {
		if e.Type == hotswap.EventCommitted || e.Type == hotswap.EventRolledBack {
			t.Fatalf("unexpected %v", e)
		}
	}
}

// TestSubscriberRevertsCommitted: a subscriber may revert a patch when it
// sees its committed event.
func TestSubscriberRevertsCommitted(t *testing.T) {
	t.Parallel()
	m, charge := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: time.Millisecond})
	events, cancel := m.Subscribe(16)
	defer cancel()
	mustApply(t, m, hotswap.Patch{ID: "c", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return errors.New("patched") })}})
	waitEvent(t, events, hotswap.EventCommitted, "c")
	if err := m.Revert(context.Background(), "c"); err != nil {
		t.Fatalf("Revert on the committed event: %v", err)
	}
	waitEvent(t, events, hotswap.EventReverted, "c")
	if err := charge.Load()(1); err != nil {
		t.Fatalf("the baseline does not serve after the revert: %v", err)
	}
}

// TestWindowEndsDuringRollback: when the window ends while a failure
// crosses the threshold, each patch ends exactly one way: committed or
// rolled back, never both, and never twice; Close then leaves no
// goroutine behind (TestMain).
func TestWindowEndsDuringRollback(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: time.Millisecond})
	events, cancel := m.Subscribe(1024)
	defer cancel()
	ctx := context.Background()
	const n = 40
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		mustApply(t, m, hotswap.Patch{ID: id, Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
		m.Begin(ctx, "billing.Charge").End(errors.New("fails at the end of the window"))
		// Wait for its outcome, so that the next patch is applied on the
		// baseline.
		for done := false; !done; {
			select {
			case e := <-events:
				done = e.PatchID == id && (e.Type == hotswap.EventCommitted || e.Type == hotswap.EventRolledBack)
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no outcome", id)
			}
		}
		if i%2 == 0 {
			_ = m.Revert(ctx, id) // committed ones leave; a rolled-back one is gone already
		}
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ends := map[string]int{}
	for _, e := range m.History() {
		if e.Type == hotswap.EventCommitted || e.Type == hotswap.EventRolledBack {
			ends[e.PatchID]++
		}
	}
	for i := range n {
		if id := fmt.Sprintf("p%d", i); ends[id] != 1 {
			t.Errorf("%s ended %d times", id, ends[id])
		}
	}
}

// TestPolicyExtremes: a huge window and negative MinCalls and Window
// (their defaults) are shown as they apply.
func TestPolicyExtremes(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: math.MaxInt64})
	a := mustApply(t, m, hotswap.Patch{ID: "long", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	if p := patchInfo(t, m, "long").Probation; !p.Until.After(a.At.Add(200*365*24*time.Hour)) || p.State != hotswap.ProbationActive {
		t.Fatalf("huge window: %+v", p)
	}
	m2, _ := checkedFixture(t, hotswap.RollbackPolicy{Ratio: 0.5, MinCalls: -3, Window: -time.Second})
	mustApply(t, m2, hotswap.Patch{ID: "neg", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	if p := patchInfo(t, m2, "neg").Probation; p.Policy.MinCalls != hotswap.DefaultMinCalls || p.Policy.Window != hotswap.DefaultRollbackWindow {
		t.Fatalf("negative MinCalls and Window: %+v", p.Policy)
	}
}

// TestWindowEndsWhileLockHeld: a window ends at its time even while a
// change holds the manager's lock (a slow Validate hook): the patch is
// committed then, and a failure after its window, before the change is
// done, rolls nothing back.
func TestWindowEndsWhileLockHeld(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1, Window: 20 * time.Millisecond}})
	events, cancel := f.m.Subscribe(16)
	defer cancel()
	mustApply(t, f.m, greetPatch("p", "p"))
	entered, release := make(chan struct{}), make(chan struct{})
	slow := hotswap.Patch{ID: "slow", Impls: map[string]any{"billing.Price": func(c int) int { return c }},
		Validate: func(context.Context) error {
			close(entered)
			<-release
			return nil
		}}
	applied := make(chan error, 1)
	go func() {
		_, err := f.m.Apply(context.Background(), slow)
		applied <- err
	}()
	<-entered
	timeout := time.After(5 * time.Second) // a hang detector: the window is 20 ms
	for committed := false; !committed; {
		select {
		case e := <-events:
			committed = e.Type == hotswap.EventCommitted && e.PatchID == "p"
		case <-timeout:
			close(release)
			<-applied
			t.Fatal("the window of p did not end while a Validate hook held the lock")
		}
	}
	f.m.Begin(context.Background(), "example.Greet").End(errors.New("after the window"))
	close(release)
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if p := patchInfo(t, f.m, "p").Probation; p.State != hotswap.ProbationCommitted || p.Failures != 1 {
		t.Fatalf("probation of p = %+v, want committed with the late failure shown", p)
	}
}

// TestReportedThenConvertedCountsOnce: a panic that the loader reported,
// recovered on its way up by code inside the feeder (a web framework's own
// recovery) and turned into another error (an HTTP 500), is one failure,
// not two: the feeder's failure is the loader's report of the same call.
func TestReportedThenConvertedCountsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 10, Window: time.Hour}})
	ctx := context.Background()
	l := &hostLoader{}
	p, err := f.m.Load(ctx, l, "v1.h")
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f.m, p)
	for range 3 {
		c := f.m.Begin(ctx, "example.Greet")
		l.host.ReportFailure("example.Greet", &hotswap.PanicError{Value: "index out of range"}) // the loader's boundary
		c.End(errors.New("HTTP 500"))                                                           // what the framework made of it
	}
	// A panic value changed on its way up is recognised the same way.
	c := f.m.Begin(ctx, "example.Greet")
	l.host.ReportFailure("example.Greet", &hotswap.PanicError{Value: "nil map"})
	_ = c.Panic(fmt.Errorf("recovered: %v", "nil map"))
	// A report from before the call began is not the call's.
	l.host.ReportFailure("example.Greet", &hotswap.PanicError{Value: "another call"})
	f.m.Begin(ctx, "example.Greet").End(errors.New("HTTP 503"))
	if pr := patchInfo(t, f.m, "v1.h").Probation; pr.Calls != 5 || pr.Failures != 6 {
		t.Fatalf("probation = %d calls, %d failures; want 5 and 6", pr.Calls, pr.Failures)
	}
}

// TestProbationDocumentedCounts pins two sentences of the documentation:
// a patch applied again starts from zero, and a shadowed patch that
// serves again after a revert above it keeps its probation (same window,
// same counts).
func TestProbationDocumentedCounts(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 5, Window: time.Hour})
	ctx := context.Background()
	ok := hotswap.Patch{ID: "a", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}}
	mustApply(t, m, ok)
	m.Begin(ctx, "billing.Charge").End(errors.New("one"))
	before := patchInfo(t, m, "a").Probation
	mustApply(t, m, hotswap.Patch{ID: "b", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	if err := m.Revert(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	after := patchInfo(t, m, "a").Probation
	if !after.Start.Equal(before.Start) || !after.Until.Equal(before.Until) || after.Failures != 1 || after.State != hotswap.ProbationActive {
		t.Fatalf("shadowed and serving again: %+v, was %+v", after, before)
	}
	if err := m.Revert(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	mustApply(t, m, ok)
	if p := patchInfo(t, m, "a").Probation; p.Failures != 0 || p.Calls != 0 || !p.Start.After(before.Start) {
		t.Fatalf("applied again: %+v", p)
	}
}
