package hotswap_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type greeter func(string) string

// fixture is a registry with two slots and a manager on it.
type fixture struct {
	reg   *registry.Registry
	m     *hotswap.Manager
	greet *registry.Func[func(string) string]
	price *registry.Func[func(int) int]
}

func newFixture(t *testing.T, opts hotswap.Options) *fixture {
	t.Helper()
	reg := registry.New()
	f := &fixture{
		reg:   reg,
		greet: registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n }),
		price: registry.MustRegister(reg, "billing.Price", func(c int) int { return c }),
	}
	f.m = mustNew(t, reg, opts)
	t.Cleanup(func() { f.m.Close(context.Background()) })
	return f
}

func greetPatch(id, word string) hotswap.Patch {
	return hotswap.Patch{ID: id, Source: "test", Impls: map[string]any{
		"example.Greet": func(n string) string { return word + ", " + n },
	}}
}

// serving asserts what the two slots serve.
func (f *fixture) serving(t *testing.T, greet string, price int) {
	t.Helper()
	if got := f.greet.Load()("x"); got != greet+", x" {
		t.Fatalf("greet serves %q, want %q", got, greet+", x")
	}
	if got := f.price.Load()(10); got != price {
		t.Fatalf("price serves %d, want %d", got, price)
	}
}

func TestApplyRevert(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	a, err := f.m.Apply(ctx, greetPatch("p1", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "p1" || a.Generation != 1 || len(a.Slots) != 1 || a.Slots[0] != "example.Greet" {
		t.Fatalf("Applied = %+v", a)
	}
	f.serving(t, "hi", 10)
	if f.greet.PatchID() != "p1" || f.greet.Generation() != 1 {
		t.Fatalf("slot version = %q/%d", f.greet.PatchID(), f.greet.Generation())
	}
	if err := f.m.Revert(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	f.serving(t, "hello", 10)
	if f.greet.PatchID() != "" || f.greet.Generation() != 2 || f.m.Generation() != 2 {
		t.Fatalf("after revert: %q/%d, manager gen %d", f.greet.PatchID(), f.greet.Generation(), f.m.Generation())
	}
}

func TestPatchStack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	both := func(id, word string, p int) hotswap.Patch {
		return hotswap.Patch{ID: id, Impls: map[string]any{
			"example.Greet": func(n string) string { return word + ", " + n },
			"billing.Price": func(c int) int { return c * p },
		}}
	}
	mustApply(t, f.m, both("A", "a", 2))
	mustApply(t, f.m, greetPatch("B", "b"))
	mustApply(t, f.m, both("C", "c", 3))
	f.serving(t, "c", 30)

	// Removing from the middle changes nothing that is served.
	if err := f.m.Revert(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	f.serving(t, "c", 30)
	// Removing the top falls back to the top-most remaining provider.
	if err := f.m.Revert(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	f.serving(t, "a", 20)
	st := f.m.Status()
	if len(st.Stack) != 1 || st.Stack[0].ID != "A" {
		t.Fatalf("stack = %+v", st.Stack)
	}
	mustApply(t, f.m, greetPatch("D", "d"))
	f.serving(t, "d", 20)
	st = f.m.Status()
	if got := st.Stack[0].Serving; len(got) != 1 || got[0] != "billing.Price" {
		t.Fatalf("A serves %v, want [billing.Price]", got)
	}
	if err := f.m.Revert(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	f.serving(t, "d", 10)
	if err := f.m.Revert(ctx, "D"); err != nil {
		t.Fatal(err)
	}
	f.serving(t, "hello", 10)
	// A reverted ID may be applied again.
	mustApply(t, f.m, greetPatch("B", "b2"))
	f.serving(t, "b2", 10)
}

func TestReplaces(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	var retired atomic.Int32
	p1 := hotswap.Patch{ID: "v1", Impls: map[string]any{
		"example.Greet": func(n string) string { return "v1, " + n },
		"billing.Price": func(c int) int { return c + 1 },
	}, Retire: func(context.Context) error { retired.Add(1); return nil }}
	mustApply(t, f.m, p1)
	gen := f.m.Generation()
	p2 := greetPatch("v2", "v2")
	p2.Replaces = "v1"
	a, err := f.m.Apply(ctx, p2)
	if err != nil {
		t.Fatal(err)
	}
	if a.Generation != gen+1 {
		t.Fatalf("replace took generation %d, want %d (one swap)", a.Generation, gen+1)
	}
	// Greet comes from v2; Price, which v2 does not provide, falls back.
	f.serving(t, "v2", 10)
	if st := f.m.Status(); len(st.Stack) != 1 || st.Stack[0].ID != "v2" {
		t.Fatalf("stack = %+v", st.Stack)
	}
	waitFor(t, func() bool { return retired.Load() == 1 })

	p3 := greetPatch("v3", "v3")
	p3.Replaces = "nope"
	if _, err := f.m.Apply(ctx, p3); !errors.Is(err, hotswap.ErrUnknownPatch) {
		t.Fatalf("replace of an unknown patch: err = %v", err)
	}
	f.serving(t, "v2", 10)
}

func TestApplyBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	mustApply(t, f.m, greetPatch("good", "good"))
	var nilFn func(string) string
	cases := []struct {
		name  string
		patch hotswap.Patch
		want  error
	}{
		{"unknown slot", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Nope": func(string) string { return "" }}}, hotswap.ErrUnknownSlot},
		{"wrong func type", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": func(int) string { return "" }}}, hotswap.ErrTypeMismatch},
		{"same shape, named type", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": greeter(func(s string) string { return s })}}, hotswap.ErrTypeMismatch},
		{"not a func", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": "hello"}}, hotswap.ErrTypeMismatch},
		{"nil impl", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": nil}}, hotswap.ErrNilImpl},
		{"nil typed func", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": nilFn}}, hotswap.ErrNilImpl},
		{"empty patch", hotswap.Patch{ID: "x"}, hotswap.ErrEmptyPatch},
		{"empty impls map", hotswap.Patch{ID: "x", Impls: map[string]any{}}, hotswap.ErrEmptyPatch},
		{"no id", hotswap.Patch{Impls: map[string]any{"example.Greet": func(s string) string { return s }}}, hotswap.ErrNoID},
		{"duplicate id", greetPatch("good", "dup"), hotswap.ErrDuplicateID},
		{"one good one bad slot", hotswap.Patch{ID: "x", Impls: map[string]any{
			"example.Greet": func(s string) string { return "half" },
			"billing.Price": func(c int64) int64 { return c },
		}}, hotswap.ErrTypeMismatch},
		{"validate veto", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": func(s string) string { return "vetoed" }},
			Validate: func(context.Context) error { return errors.New("health check failed") }}, hotswap.ErrVetoed},
		{"validate panics", hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": func(s string) string { return "vetoed" }},
			Validate: func(context.Context) error { panic("boom") }}, hotswap.ErrVetoed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.m.Status()
			_, err := f.m.Apply(ctx, tc.patch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			f.serving(t, "good", 10)
			after := f.m.Status()
			if after.Generation != before.Generation || len(after.Stack) != len(before.Stack) {
				t.Fatalf("status changed: gen %d -> %d, stack %d -> %d", before.Generation, after.Generation, len(before.Stack), len(after.Stack))
			}
			h := f.m.History()
			last := h[len(h)-1]
			if last.Type != hotswap.EventRejected || last.Err == nil {
				t.Fatalf("last event = %v, want rejected with reason", last)
			}
		})
	}
}

func TestTypeMismatchErrorFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	_, err := f.m.Apply(context.Background(), hotswap.Patch{ID: "x", Impls: map[string]any{"example.Greet": greeter(func(s string) string { return s })}})
	var tm *hotswap.TypeMismatchError
	if !errors.As(err, &tm) {
		t.Fatalf("err = %v, want *TypeMismatchError", err)
	}
	if tm.Slot != "example.Greet" || tm.Want.String() != "func(string) string" || tm.Got.String() != "hotswap_test.greeter" {
		t.Fatalf("TypeMismatchError = %+v", tm)
	}
	for _, want := range []string{"example.Greet", "func(string) string", "hotswap_test.greeter", `apply patch "x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestApplyCanceledContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	p := greetPatch("p", "slow")
	p.Validate = func(ctx context.Context) error { cancel(); return ctx.Err() }
	if _, err := f.m.Apply(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	f.serving(t, "hello", 10)
	if _, err := f.m.Apply(ctx, greetPatch("q", "q")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRevertBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	mustApply(t, f.m, greetPatch("p", "p"))
	if err := f.m.Revert(context.Background(), "nope"); !errors.Is(err, hotswap.ErrUnknownPatch) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
	f.serving(t, "p", 10)
	if err := f.m.Revert(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(context.Background(), "p"); !errors.Is(err, hotswap.ErrUnknownPatch) {
		t.Fatalf("second revert: err = %v", err)
	}
}

func TestAfterClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	var retired atomic.Int32
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error { retired.Add(1); return nil }
	mustApply(t, f.m, p)
	events, _ := f.m.Subscribe(100)
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if retired.Load() != 1 {
		t.Fatalf("Close retired %d patches, want 1", retired.Load())
	}
	// Close puts slots back to their baseline; they keep working.
	f.serving(t, "hello", 10)
	if _, err := f.m.Apply(context.Background(), greetPatch("q", "q")); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Apply after Close: err = %v", err)
	}
	if err := f.m.Revert(context.Background(), "p"); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Revert after Close: err = %v", err)
	}
	n := len(f.m.History())
	f.m.ReportFailure("example.Greet", errors.New("ignored"))
	f.serving(t, "hello", 10)
	if len(f.m.History()) != n {
		t.Fatalf("ReportFailure after Close recorded %v", f.m.History()[n:])
	}
	// The subscription channel is closed after the last events.
	var got []hotswap.EventType
	for e := range events {
		got = append(got, e.Type)
	}
	if fmt.Sprint(got) != "[reverted retired]" {
		t.Fatalf("events after subscribe = %v", got)
	}
	// A new manager may take over the registry.
	m2 := mustNew(t, f.reg, hotswap.Options{})
	defer m2.Close(context.Background())
	mustApply(t, m2, greetPatch("r", "r"))
	f.serving(t, "r", 10)
}

func TestSecondManagerRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	if m2, err := hotswap.New(f.reg, hotswap.Options{}); !errors.Is(err, hotswap.ErrRegistryInUse) || m2 != nil {
		t.Fatalf("second New = %v, %v; want nil, ErrRegistryInUse", m2, err)
	}
	if _, err := hotswap.New(nil, hotswap.Options{}); !errors.Is(err, hotswap.ErrNoRegistry) {
		t.Fatalf("New(nil) err = %v, want ErrNoRegistry", err)
	}
	// The first manager is not disturbed.
	mustApply(t, f.m, greetPatch("p", "p"))
	f.serving(t, "p", 10)
}

func TestRetireOnceAndOffPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	release := make(chan struct{})
	var calls atomic.Int32
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error {
		calls.Add(1)
		<-release // a slow drain must not hold up Revert
		return errors.New("drain incomplete")
	}
	mustApply(t, f.m, p)
	if err := f.m.Revert(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	// Revert returned while Retire still runs.
	close(release)
	waitFor(t, func() bool {
		for _, e := range f.m.History() {
			if e.Type == hotswap.EventRetired && e.PatchID == "p" {
				return e.Err != nil && strings.Contains(e.Err.Error(), "drain incomplete")
			}
		}
		return false
	})
	if calls.Load() != 1 {
		t.Fatalf("Retire ran %d times", calls.Load())
	}
}

func TestRetirePanicRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error { panic("retire blew up") }
	mustApply(t, f.m, p)
	if err := f.m.Revert(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, e := range f.m.History() {
			var pe *hotswap.PanicError
			if e.Type == hotswap.EventRetired && errors.As(e.Err, &pe) && len(pe.Stack) > 0 {
				return true
			}
		}
		return false
	})
}

func TestShadowedPatchNotRetired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	var retired sync.Map
	mk := func(id string) hotswap.Patch {
		p := greetPatch(id, id)
		p.Retire = func(context.Context) error { retired.Store(id, true); return nil }
		return p
	}
	mustApply(t, f.m, mk("low"))
	mustApply(t, f.m, mk("high"))
	if err := f.m.Revert(context.Background(), "high"); err != nil {
		t.Fatal(err)
	}
	// "low" was shadowed, never retired, and serves again.
	f.serving(t, "low", 10)
	waitFor(t, func() bool { _, ok := retired.Load("high"); return ok })
	if _, ok := retired.Load("low"); ok {
		t.Fatal("a shadowed patch still in the stack was retired")
	}
}

func TestHistoryBoundedAndSubscribe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{HistorySize: 5})
	ch, cancel := f.m.Subscribe(100)
	for i := range 6 {
		mustApply(t, f.m, greetPatch(fmt.Sprint("p", i), "w"))
	}
	h := f.m.History()
	if len(h) != 5 || h[0].PatchID != "p1" || h[4].PatchID != "p5" {
		t.Fatalf("history = %v", h)
	}
	for i := range 6 {
		e := <-ch
		if e.Type != hotswap.EventApplied || e.PatchID != fmt.Sprint("p", i) || e.Generation != uint64(i+1) {
			t.Fatalf("event %d = %v", i, e)
		}
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	// A subscriber that does not read does not block the manager.
	_, cancel2 := f.m.Subscribe(0)
	defer cancel2()
	mustApply(t, f.m, greetPatch("late", "late"))
}

func TestRollbackPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Window: time.Hour}})
	mustApply(t, f.m, greetPatch("good", "good"))
	mustApply(t, f.m, greetPatch("bad", "bad"))
	f.m.ReportFailure("example.Greet", errors.New("e1"))
	f.m.ReportFailure("example.Greet", errors.New("e2"))
	f.serving(t, "bad", 10)
	if st := f.m.Status(); st.Slots[1].Name != "example.Greet" || st.Slots[1].Failures != 2 {
		t.Fatalf("status = %+v", st.Slots)
	}
	f.m.ReportFailure("example.Greet", errors.New("e3"))
	waitFor(t, func() bool { return f.greet.PatchID() == "good" })
	f.serving(t, "good", 10)
	var rb *hotswap.Event
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRolledBack {
			rb = &e
		}
	}
	if rb == nil || rb.PatchID != "bad" || !strings.Contains(rb.Err.Error(), "e3") {
		t.Fatalf("rolled-back event = %v", rb)
	}
	// Failures on the baseline or of no slot change nothing: no event, no
	// count, nothing rolled back (Close waits for any rollback started).
	n := len(f.m.History())
	f.m.ReportFailure("billing.Price", errors.New("x"))
	f.m.ReportFailure("no.Such", errors.New("x"))
	for _, sl := range f.m.Status().Slots {
		if sl.Name == "billing.Price" && sl.Failures != 0 {
			t.Fatalf("a baseline slot counts %d failures", sl.Failures)
		}
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.m.History()[n:] {
		if e.Type != hotswap.EventReverted && e.Type != hotswap.EventRetired {
			t.Fatalf("failures on the baseline recorded %v", e)
		}
	}
}

// TestRollbackCountsPerPatch: failures are counted per patch, across the
// slots it serves, as docs/concepts.md says.
func TestRollbackCountsPerPatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 2, Window: time.Hour}})
	mustApply(t, f.m, hotswap.Patch{ID: "both", Impls: map[string]any{
		"example.Greet": func(n string) string { return "both, " + n },
		"billing.Price": func(c int) int { return 2 * c },
	}})
	f.m.ReportFailure("example.Greet", errors.New("one"))
	for _, sl := range f.m.Status().Slots {
		if sl.Failures != 1 {
			t.Fatalf("slot %s shows %d failures of its patch, want 1 (the count is the patch's)", sl.Name, sl.Failures)
		}
	}
	f.m.ReportFailure("billing.Price", errors.New("two"))
	waitFor(t, func() bool { return f.greet.PatchID() == "" })
	f.serving(t, "hello", 10)
}

func TestRollbackWindowExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1, Window: time.Nanosecond}})
	mustApply(t, f.m, greetPatch("p", "p"))
	// Let the window pass: the test needs time to have passed, it does
	// not wait for another goroutine.
	for since := time.Now(); time.Since(since) <= time.Nanosecond; {
	}
	f.m.ReportFailure("example.Greet", errors.New("late failure"))
	f.serving(t, "p", 10)
	assertNoRollback(t, f.m)
}

// assertNoRollback closes the manager, which waits for every rollback
// started, and checks that none rolled a patch back.
func assertNoRollback(t *testing.T, m *hotswap.Manager) {
	t.Helper()
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.History() {
		if e.Type == hotswap.EventRolledBack {
			t.Fatalf("rolled back: %v", e)
		}
	}
}

func TestRollbackDisabledByDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	mustApply(t, f.m, greetPatch("p", "p"))
	for range 100 {
		f.m.ReportFailure("example.Greet", errors.New("x"))
	}
	f.serving(t, "p", 10)
	if st := f.m.Status(); st.Slots[1].Failures != 100 {
		t.Fatalf("failures counted = %d, want 100", st.Slots[1].Failures)
	}
	// A rollback would run in the background: Close waits for it, so the
	// check below sees one that was started.
	assertNoRollback(t, f.m)
}

func TestStatusListsLateSlots(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	registry.MustRegister(f.reg, "aaa.Late", func() {})
	st := f.m.Status()
	if len(st.Slots) != 3 || st.Slots[0].Name != "aaa.Late" || st.Slots[0].Type != "func()" {
		t.Fatalf("slots = %+v", st.Slots)
	}
	mustApply(t, f.m, hotswap.Patch{ID: "late", Impls: map[string]any{"aaa.Late": func() {}}})
	if st := f.m.Status(); st.Slots[0].PatchID != "late" || st.Slots[0].Kind != hotswap.KindManual {
		t.Fatalf("slots = %+v", st.Slots)
	}
}

func mustNew(tb testing.TB, reg *registry.Registry, opts hotswap.Options) *hotswap.Manager {
	tb.Helper()
	m, err := hotswap.New(reg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func mustApply(t *testing.T, m *hotswap.Manager, p hotswap.Patch) hotswap.Applied {
	t.Helper()
	a, err := m.Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
