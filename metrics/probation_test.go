package metrics

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// calls feeds n calls of slot through the manager's feeder API, the
// first failures of them failing.
func (f *fixture) calls(slot string, n, failures int) {
	for i := range n {
		c := f.m.Begin(context.Background(), slot)
		var err error
		if i < failures {
			err = errors.New("bad result")
		}
		c.End(err)
	}
}

// waitEvent waits for an event of type typ about patch id on events.
func waitEvent(t *testing.T, events <-chan hotswap.Event, typ hotswap.EventType, id string) hotswap.Event {
	t.Helper()
	timeout := time.After(hangAfter)
	for {
		select {
		case e := <-events:
			if e.Type == typ && e.PatchID == id {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", typ, id)
		}
	}
}

// TestProbation: a patch on probation has its calls and failures, and
// counts in the gauge of patches on probation; a patch below it,
// committed, has none; a patch on the baseline's slot has no series.
func TestProbation(t *testing.T) {
	// A window long enough that the probation runs for the whole test.
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 5, Ratio: 0.5, MinCalls: 100, Window: time.Hour}})
	if err := f.apply(greet("g<1>", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	f.calls("example.Greet", 7, 2)
	f.calls("shop.Price", 3, 1) // the baseline: counts against nothing
	want := `
# HELP hotpatch_probation_patches Patches on probation now: applied, their window running.
# TYPE hotpatch_probation_patches gauge
hotpatch_probation_patches 1
# HELP hotpatch_probation_calls_total Calls counted against a patch on probation, across its slots, since its apply.
# TYPE hotpatch_probation_calls_total counter
hotpatch_probation_calls_total{kind="script",patch_id="g<1>"} 7
# HELP hotpatch_probation_failures_total Failures counted against a patch on probation, across its slots, since its apply.
# TYPE hotpatch_probation_failures_total counter
hotpatch_probation_failures_total{kind="script",patch_id="g<1>"} 2
`
	names := []string{"hotpatch_probation_patches", "hotpatch_probation_calls_total", "hotpatch_probation_failures_total"}
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// A second patch on probation, of another slot.
	if err := f.apply(hotswap.Patch{ID: "p2", Kind: hotswap.KindNative, Impls: map[string]any{"shop.Price": func(n int) int { return 2 * n }}}); err != nil {
		t.Fatal(err)
	}
	f.calls("shop.Price", 4, 0)
	want = `
# HELP hotpatch_probation_patches Patches on probation now: applied, their window running.
# TYPE hotpatch_probation_patches gauge
hotpatch_probation_patches 2
# HELP hotpatch_probation_calls_total Calls counted against a patch on probation, across its slots, since its apply.
# TYPE hotpatch_probation_calls_total counter
hotpatch_probation_calls_total{kind="native",patch_id="p2"} 4
hotpatch_probation_calls_total{kind="script",patch_id="g<1>"} 7
# HELP hotpatch_probation_failures_total Failures counted against a patch on probation, across its slots, since its apply.
# TYPE hotpatch_probation_failures_total counter
hotpatch_probation_failures_total{kind="native",patch_id="p2"} 0
hotpatch_probation_failures_total{kind="script",patch_id="g<1>"} 2
`
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The probation series pass promlint in a pedantic registry.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	problems, err := promlint.New(bytes.NewReader(scrape(t, reg))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// Three more failures cross the threshold of 5: rolled back, its
	// series gone, the rollback counted.
	events, cancel := f.m.Subscribe(64)
	defer cancel()
	f.calls("example.Greet", 3, 3)
	waitEvent(t, events, hotswap.EventRolledBack, "g<1>")
	f.sync()
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_probation_patches")); got != 1 {
		t.Errorf("probation_patches after the rollback = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_probation_failures_total"); n != 1 {
		t.Errorf("probation_failures_total has %d series after the rollback, want 1 (p2)", n)
	}
	if got := testutil.ToFloat64(f.c.rollbacks.WithLabelValues("script", ReasonError)); got != 1 {
		t.Errorf("rollbacks{script,error} = %v, want 1", got)
	}
}

// TestCommitted: a probation that ends clean is counted in commits_total,
// and the patch leaves the probation series; its later failures count in
// slot_failures only. (The calls come after the commit, so that a slow
// machine cannot end the short window in their midst.)
func TestCommitted(t *testing.T) {
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Window: 50 * time.Millisecond}})
	events, cancel := f.m.Subscribe(64)
	defer cancel()
	if err := f.apply(greet("g1", hotswap.KindProcess)); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, events, hotswap.EventCommitted, "g1")
	if e.Probation == nil || e.Probation.State != hotswap.ProbationCommitted || e.Probation.Calls != 0 {
		t.Fatalf("committed event's evidence = %+v, want committed with no call", e.Probation)
	}
	// Calls after the commit: counted, but on no probation.
	f.calls("example.Greet", 2, 1)
	f.sync()
	if got := testutil.ToFloat64(f.c.commits.WithLabelValues("process")); got != 1 {
		t.Errorf("commits{process} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_probation_patches")); got != 0 {
		t.Errorf("probation_patches after the commit = %v, want 0", got)
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_probation_calls_total"); n != 0 {
		t.Errorf("probation_calls_total has %d series after the commit, want 0", n)
	}
	// The failures stay in slot_failures.
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_slot_failures")); got != 1 {
		t.Errorf("slot_failures after the commit = %v, want 1", got)
	}
}

// TestNoPolicy: without a rollback policy, no patch is on probation.
func TestNoPolicy(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	if err := f.apply(greet("g1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	f.calls("example.Greet", 3, 1)
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_probation_patches")); got != 0 {
		t.Errorf("probation_patches = %v, want 0", got)
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_probation_calls_total"); n != 0 {
		t.Errorf("probation_calls_total has %d series, want 0", n)
	}
}

// TestNewCountsOnce: a script patch applied between New's subscription and
// its read of the status is in the status and sends its applied event:
// the event of a generation the status has reached does not count its
// interpreter twice. The event of a later apply does.
func TestNewCountsOnce(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(s string) string { return s })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if _, err := m.Apply(context.Background(), greet("s1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	applied := m.History()[0]
	c := New(m)
	defer c.Close()
	// The applied event as the subscription would deliver it, had the
	// apply come after the subscription and before the status.
	c.handle(applied)
	if got := testutil.ToFloat64(onlyMetric(c, "hotpatch_script_interpreters")); got != 1 {
		t.Errorf("interpreters = %v, want 1: s1 counted from the status and again from its event", got)
	}
	if got := testutil.ToFloat64(c.applies.WithLabelValues("script")); got != 1 {
		t.Errorf("applies{script} = %v, want 1: the event came after the subscription", got)
	}
	later := applied
	later.PatchID, later.Generation = "s2", applied.Generation+1
	c.handle(later)
	if got := testutil.ToFloat64(onlyMetric(c, "hotpatch_script_interpreters")); got != 2 {
		t.Errorf("interpreters after a later apply = %v, want 2", got)
	}
}
