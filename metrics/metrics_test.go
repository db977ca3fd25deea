package metrics

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hangAfter bounds every wait of these tests: a hang detector, not a
// timing assertion.
const hangAfter = 30 * time.Second

// waitSeen blocks until the collector has handled n events or timeout
// passes, and reports whether it had.
func (c *Collector) waitSeen(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		seen, tick := c.seen, c.tick
		c.mu.Unlock()
		if seen >= n {
			return true
		}
		select {
		case <-tick:
		case <-deadline.C:
			return false
		}
	}
}

// fixture is a manager with two slots and a collector of it.
type fixture struct {
	t   testing.TB
	reg *registry.Registry
	m   *hotswap.Manager
	c   *Collector
}

func newFixture(t testing.TB, opts hotswap.Options) *fixture {
	t.Helper()
	reg := registry.New()
	registry.MustRegister(reg, "shop.Price", func(n int) int { return n })
	registry.MustRegister(reg, "example.Greet", func(s string) string { return "hello, " + s })
	m, err := hotswap.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := New(m)
	t.Cleanup(func() {
		c.Close()
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &fixture{t: t, reg: reg, m: m, c: c}
}

// sync waits until the collector has handled every event in the history.
func (f *fixture) sync() {
	f.t.Helper()
	if !f.c.waitSeen(len(f.m.History()), hangAfter) {
		f.t.Fatalf("the collector did not handle %d events", len(f.m.History()))
	}
}

func (f *fixture) apply(p hotswap.Patch) error {
	_, err := f.m.Apply(context.Background(), p)
	return err
}

func greet(id string, kind hotswap.Kind) hotswap.Patch {
	return hotswap.Patch{ID: id, Kind: kind, Impls: map[string]any{"example.Greet": func(s string) string { return id + s }}}
}

func TestCounters(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	if err := f.apply(greet("g1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	// A new version replaces g1 in the same swap: a revert, reason replaced.
	p := greet("g2", hotswap.KindScript)
	p.Replaces = "g1"
	if err := f.apply(p); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(ctx, "g2"); err != nil {
		t.Fatal(err)
	}
	// Refusals, one of each class the manager itself produces.
	bad := []hotswap.Patch{
		{ID: "x1", Kind: hotswap.KindNative, Impls: map[string]any{"no.Such": func() {}}},
		{ID: "x2", Kind: hotswap.KindNative, Impls: map[string]any{"example.Greet": func(int) int { return 0 }}},
		{ID: "", Kind: hotswap.KindManual, Impls: map[string]any{"example.Greet": func(s string) string { return s }}},
		{ID: "x3", Kind: hotswap.KindManual, Impls: map[string]any{"example.Greet": func(s string) string { return s }},
			Validate: func(context.Context) error { return errors.New("not today") }},
	}
	for _, p := range bad {
		if err := f.apply(p); err == nil {
			t.Fatalf("patch %q applied", p.ID)
		}
	}
	// A restart recorded by a loader, and a type the collector has never
	// heard of (an application records types of its own).
	for _, e := range []hotswap.Event{
		{Type: hotswap.EventRestarted, PatchID: "p1", Kind: hotswap.KindProcess, Err: errors.New("exit status 2")},
		{Type: "cache-warmed", PatchID: "p1", Kind: hotswap.KindProcess},
	} {
		if err := f.m.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()

	want := `
# HELP hotpatch_applies_total Patches applied.
# TYPE hotpatch_applies_total counter
hotpatch_applies_total{kind="script"} 2
# HELP hotpatch_reverts_total Patches reverted, by reason: request, replaced (by a new version), close.
# TYPE hotpatch_reverts_total counter
hotpatch_reverts_total{kind="script",reason="replaced"} 1
hotpatch_reverts_total{kind="script",reason="request"} 1
# HELP hotpatch_rejections_total Patches or patch files refused, by the class of the error.
# TYPE hotpatch_rejections_total counter
hotpatch_rejections_total{kind="manual",reason="invalid"} 1
hotpatch_rejections_total{kind="manual",reason="vetoed"} 1
hotpatch_rejections_total{kind="native",reason="type_mismatch"} 1
hotpatch_rejections_total{kind="native",reason="unknown_slot"} 1
# HELP hotpatch_restarts_total Restarts of what serves a patch (a process that exited).
# TYPE hotpatch_restarts_total counter
hotpatch_restarts_total{kind="process"} 1
# HELP hotpatch_events_total Events recorded by the manager, by type.
# TYPE hotpatch_events_total counter
hotpatch_events_total{type="applied"} 2
hotpatch_events_total{type="cache-warmed"} 1
hotpatch_events_total{type="rejected"} 4
hotpatch_events_total{type="restarted"} 1
hotpatch_events_total{type="retired"} 2
hotpatch_events_total{type="reverted"} 2
`
	if err := testutil.CollectAndCompare(nonZero{f.c}, strings.NewReader(want),
		"hotpatch_applies_total", "hotpatch_reverts_total", "hotpatch_rejections_total",
		"hotpatch_restarts_total", "hotpatch_events_total"); err != nil {
		t.Error(err)
	}
}

func TestRollbackCounted(t *testing.T) {
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 2, Window: time.Hour}})
	events, cancel := f.m.Subscribe(64)
	defer cancel()
	if err := f.apply(greet("bad", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.m.ReportFailure("example.Greet", &hotswap.PanicError{Value: "boom"})
	}
	timeout := time.After(hangAfter)
	for rolled := false; !rolled; {
		select {
		case e := <-events:
			rolled = e.Type == hotswap.EventRolledBack
		case <-timeout:
			t.Fatal("no rolled-back event")
		}
	}
	f.sync()
	if got := testutil.ToFloat64(f.c.rollbacks.WithLabelValues("script", ReasonPanic)); got != 1 {
		t.Errorf("rollbacks{script,panic} = %v, want 1", got)
	}
}

func TestGauges(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	if err := f.apply(greet("g<1>", hotswap.KindManual)); err != nil {
		t.Fatal(err)
	}
	f.m.ReportFailure("example.Greet", errors.New("bad result"))
	want := `
# HELP hotpatch_generation The manager's generation: it rises on every change of a slot.
# TYPE hotpatch_generation gauge
hotpatch_generation 1
# HELP hotpatch_stack_depth Patches in the stack.
# TYPE hotpatch_stack_depth gauge
hotpatch_stack_depth 1
# HELP hotpatch_slot_info The version serving each slot (always 1); patch_id is empty and kind baseline for the compiled-in code.
# TYPE hotpatch_slot_info gauge
hotpatch_slot_info{kind="baseline",patch_id="",slot="shop.Price"} 1
hotpatch_slot_info{kind="manual",patch_id="g<1>",slot="example.Greet"} 1
# HELP hotpatch_slot_failures Failures counted against the patch serving the slot, since it was applied (across all its slots).
# TYPE hotpatch_slot_failures gauge
hotpatch_slot_failures{patch_id="g<1>",slot="example.Greet"} 1
`
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want),
		"hotpatch_generation", "hotpatch_stack_depth", "hotpatch_slot_info", "hotpatch_slot_failures"); err != nil {
		t.Error(err)
	}
	// One series per slot, whatever the number of patches applied since.
	for i := range 20 {
		p := greet(fmt.Sprintf("g%d", i), hotswap.KindManual)
		if err := f.apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_slot_info"); n != 2 {
		t.Errorf("hotpatch_slot_info has %d series, want 2 (one per slot)", n)
	}
}

// fakeLoader makes manual patches of its kind, counts memory and may
// count interpreters.
type fakeLoader struct {
	kind  hotswap.Kind
	impl  any
	slot  string
	used  int64
	limit int64
}

func (l *fakeLoader) Kind() hotswap.Kind              { return l.kind }
func (l *fakeLoader) Match(path string) bool          { return true }
func (l *fakeLoader) Close(ctx context.Context) error { return nil }
func (l *fakeLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if path == "bad" {
		return hotswap.Patch{}, &loader.Error{Pos: token.Position{Filename: path, Line: 1, Column: 1}, Err: loader.ErrSyntax}
	}
	return hotswap.Patch{ID: path, Kind: l.kind, Impls: map[string]any{l.slot: l.impl}}, nil
}
func (l *fakeLoader) Memory() (int64, int64) { return l.used, l.limit }

type interpLoader struct{ fakeLoader }

func (l *interpLoader) Interpreters() int { return 7 }

// TestApplyLatency: every applied event's Took is observed, for patches
// that came through Manager.Load (from the start of the load) and those
// applied in code (from the call of Apply), with the patch's kind.
func TestApplyLatency(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	fl := &fakeLoader{kind: hotswap.KindNative, slot: "shop.Price", impl: func(n int) int { return 2 * n }, used: 3 << 20, limit: 256 << 20}
	if err := f.m.Attach(fl); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := f.m.Load(ctx, fl, "p1.so")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.apply(p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Load(ctx, fl, "bad"); err == nil {
		t.Fatal("bad load succeeded")
	}
	if err := f.apply(hotswap.Patch{ID: "manual", Kind: hotswap.KindNative, Impls: map[string]any{"shop.Price": func(n int) int { return n }}}); err != nil {
		t.Fatal(err)
	}
	f.sync()
	var took []time.Duration
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventApplied {
			if e.Took <= 0 {
				t.Errorf("applied event of %s has Took %v", e.PatchID, e.Took)
			}
			took = append(took, e.Took)
		}
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_apply_duration_seconds"); n != 1 {
		t.Fatalf("apply_duration has %d series, want 1", n)
	}
	mfs, err := gather(f.c)
	if err != nil {
		t.Fatal(err)
	}
	h := mfs["hotpatch_apply_duration_seconds"].GetMetric()[0]
	if got := h.GetHistogram().GetSampleCount(); got != uint64(len(took)) || got != 2 {
		t.Errorf("apply_duration samples = %d, want one per applied event (%d)", got, len(took))
	}
	var sum float64
	for _, d := range took {
		sum += d.Seconds()
	}
	if got := h.GetHistogram().GetSampleSum(); math.Abs(got-sum) > 1e-9 {
		t.Errorf("apply_duration sum = %v, want the events' Took summed, %v", got, sum)
	}
	if l := h.GetLabel(); len(l) != 1 || l[0].GetValue() != "native" {
		t.Errorf("apply_duration labels = %v, want kind=native", l)
	}
	want := `
# HELP hotpatch_loader_memory_bytes Memory held by a loader's patches (native: plugins are never unmapped).
# TYPE hotpatch_loader_memory_bytes gauge
hotpatch_loader_memory_bytes{kind="native"} 3.145728e+06
# HELP hotpatch_loader_memory_limit_bytes The cap on hotpatch_loader_memory_bytes; past it, patches are refused.
# TYPE hotpatch_loader_memory_limit_bytes gauge
hotpatch_loader_memory_limit_bytes{kind="native"} 2.68435456e+08
`
	if err := testutil.CollectAndCompare(f.c, strings.NewReader(want), "hotpatch_loader_memory_bytes", "hotpatch_loader_memory_limit_bytes"); err != nil {
		t.Error(err)
	}
}

func gather(c prometheus.Collector) (map[string]*dto, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*dto, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out, nil
}

func TestInterpreters(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	events, cancel := f.m.Subscribe(64)
	defer cancel()
	for _, id := range []string{"s1", "s2"} {
		if err := f.apply(greet(id, hotswap.KindScript)); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_script_interpreters")); got != 2 {
		t.Errorf("interpreters = %v, want 2", got)
	}
	if err := f.m.Revert(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(hangAfter)
	for retired := false; !retired; {
		select {
		case e := <-events:
			retired = e.Type == hotswap.EventRetired && e.PatchID == "s1"
		case <-timeout:
			t.Fatal("s1 was not retired")
		}
	}
	f.sync()
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_script_interpreters")); got != 1 {
		t.Errorf("interpreters after s1 retired = %v, want 1", got)
	}
	// A loader that counts its interpreters is believed.
	if err := f.m.Attach(&interpLoader{fakeLoader{kind: hotswap.KindScript}}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(onlyMetric(f.c, "hotpatch_script_interpreters")); got != 7 {
		t.Errorf("interpreters from the loader = %v, want 7", got)
	}
}

// onlyMetric is c restricted to the metrics of one name, for ToFloat64.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		f.c.Collect(all)
		close(all)
	}()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("apply: %w", hotswap.ErrUnknownSlot), ReasonUnknownSlot},
		{&hotswap.TypeMismatchError{Slot: "a.B"}, ReasonTypeMismatch},
		{fmt.Errorf("x.so: %w", hotswap.ErrBaselineChanged), ReasonBaselineChanged},
		{hotswap.ErrDuplicateID, ReasonDuplicateID},
		{fmt.Errorf("%w: no", hotswap.ErrVetoed), ReasonVetoed},
		{hotswap.ErrClosed, ReasonClosed},
		{context.DeadlineExceeded, ReasonTimeout},
		{fmt.Errorf("load: %w", patchdir.ErrLoadAbandoned), ReasonTimeout},
		{fmt.Errorf("3 failures; last: %w", &hotswap.PanicError{Value: "boom"}), ReasonPanic},
		{&loader.Error{Pos: token.Position{Filename: "p.go", Line: 3}, Err: loader.ErrSyntax}, ReasonInvalid},
		{hotswap.ErrEmptyPatch, ReasonInvalid},
		{fmt.Errorf("push: %w: key 1234", bundle.ErrUntrusted), ReasonSignature},
		{bundle.ErrUnsigned, ReasonSignature},
		{bundle.ErrPayloadTampered, ReasonSignature},
		{bundle.ErrManifestTampered, ReasonSignature},
		{fmt.Errorf("load: %w", bundle.ErrExpired), ReasonExpired},
		{fmt.Errorf("push: %w: greet version 1", bundle.ErrReplay), ReasonReplay},
		{bundle.ErrWrongBaseline, ReasonBaselineChanged},
		{fmt.Errorf("%w: truncated", bundle.ErrMalformed), ReasonInvalid},
		{bundle.ErrWrongKind, ReasonInvalid},
		{errors.New("<script>alert(1)</script> 500"), ReasonError},
		{nil, ReasonError},
	}
	for _, tt := range tests {
		if got := reason(tt.err); got != tt.want {
			t.Errorf("reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestEventTypesBounded(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	for i := range maxEventTypes + 10 {
		if err := f.m.Record(hotswap.Event{Type: hotswap.EventType(fmt.Sprintf("t%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	if n := testutil.CollectAndCount(f.c, "hotpatch_events_total"); n != maxEventTypes+1 {
		t.Errorf("events_total has %d series, want %d (+ other)", n, maxEventTypes+1)
	}
	if got := testutil.ToFloat64(f.c.events.WithLabelValues("other")); got != 10 {
		t.Errorf("events_total{other} = %v, want 10", got)
	}
}

// TestCloseWithManager: the collector's goroutine ends with the manager, and
// Close after that (twice) returns; the close reverts count as close.
func TestCloseWithManager(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(s string) string { return s })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := New(m)
	if _, err := m.Apply(context.Background(), greet("g", hotswap.KindManual)); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(hangAfter):
		t.Fatal("the collector's goroutine outlived the manager")
	}
	c.Close()
	c.Close()
	if got := testutil.ToFloat64(c.reverts.WithLabelValues("manual", RevertClose)); got != 1 {
		t.Errorf("reverts{manual,close} = %v, want 1", got)
	}
	// Scrapes still work.
	if n := testutil.CollectAndCount(c, "hotpatch_slot_info"); n != 1 {
		t.Errorf("slot_info after close: %d series, want 1", n)
	}
}

// TestRace scrapes while patches are applied and reverted.
func TestRace(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	ctx := context.Background()
	for i := range 200 {
		id := fmt.Sprintf("p%d", i)
		if err := f.apply(greet(id, hotswap.KindScript)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := f.m.Revert(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestHandler scrapes Handler as Prometheus does, twice over two handlers
// of one collector.
func TestHandler(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	if err := f.apply(greet("g1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	f.sync()
	for range 2 {
		srv := httptest.NewServer(f.c.Handler())
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"hotpatch_applies_total", "hotpatch_slot_info", "hotpatch_generation", "go_goroutines"} {
			if _, ok := mfs[name]; !ok {
				t.Errorf("the scrape has no %s", name)
			}
		}
		var got float64
		for _, m := range mfs["hotpatch_applies_total"].GetMetric() {
			if m.GetLabel()[0].GetValue() == "script" {
				got = m.GetCounter().GetValue()
			}
		}
		if got != 1 {
			t.Errorf("applies_total = %v, want 1", got)
		}
	}
}
