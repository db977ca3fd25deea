package hotswap_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// checkedSlot is a slot whose func returns an error, for Guard.
type checkedSlot = func(int) error

// waitEvent waits for the first event of typ about patch on ch; the
// timeout only detects a hang.
func waitEvent(t *testing.T, ch <-chan hotswap.Event, typ hotswap.EventType, patch string) hotswap.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("events closed before %s of %s", typ, patch)
			}
			if e.Type == typ && e.PatchID == patch {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event of %s", typ, patch)
		}
	}
}

func patchInfo(t *testing.T, m *hotswap.Manager, id string) hotswap.PatchInfo {
	t.Helper()
	for _, p := range m.Status().Stack {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("patch %s not in the stack: %+v", id, m.Status().Stack)
	return hotswap.PatchInfo{}
}

func checkedFixture(t *testing.T, pol hotswap.RollbackPolicy) (*hotswap.Manager, *registry.Func[checkedSlot]) {
	t.Helper()
	reg := registry.New()
	f := registry.MustRegister(reg, "billing.Charge", func(int) error { return nil })
	m := mustNew(t, reg, hotswap.Options{Rollback: pol})
	t.Cleanup(func() { m.Close(context.Background()) })
	return m, f
}

// TestProbationPanicsBounded: a patch that panics on every call, called
// by 8 clients through Guard, is rolled back, and the calls that failed
// on it are at most the threshold plus one in flight per other client.
func TestProbationPanicsBounded(t *testing.T) {
	t.Parallel()
	const threshold, clients = 10, 8
	m, charge := checkedFixture(t, hotswap.RollbackPolicy{Failures: threshold, Window: time.Hour})
	events, cancel := m.Subscribe(100)
	defer cancel()
	mustApply(t, m, hotswap.Patch{ID: "bad", Impls: map[string]any{
		"billing.Charge": checkedSlot(func(int) error { panic("bad patch") }),
	}})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			ctx := context.Background()
			for charge.PatchID() == "bad" {
				err := m.Guard(ctx, "billing.Charge", func() error { return charge.Load()(1) })
				var pe *hotswap.PanicError
				if errors.As(err, &pe) {
					failed.Add(1)
				} else if err != nil {
					t.Errorf("Guard = %v, want a *PanicError or nil", err)
					return
				}
			}
		})
	}
	rb := waitEvent(t, events, hotswap.EventRolledBack, "bad")
	wg.Wait()
	if n := failed.Load(); n < threshold || n > threshold+clients-1 {
		t.Fatalf("%d calls failed on the bad patch, want between %d and %d", n, threshold, threshold+clients-1)
	}
	if !errors.Is(rb.Err, hotswap.ErrProbationFailed) || rb.Probation == nil || rb.Probation.State != hotswap.ProbationRolledBack ||
		rb.Probation.Failures < threshold || rb.Probation.Calls < threshold || rb.Probation.Policy.Window != time.Hour {
		t.Fatalf("rolled-back event = %v, evidence %+v", rb, rb.Probation)
	}
	if !strings.Contains(rb.Err.Error(), "bad patch") {
		t.Fatalf("rolled-back event does not carry the last failure: %v", rb.Err)
	}
	if err := charge.Load()(1); err != nil {
		t.Fatalf("baseline after rollback = %v", err)
	}
}

// TestProbationRareFailuresCommitted: a patch that fails on 1 % of its
// calls under a 5 % threshold is committed when the window ends, with the
// evidence on its committed event.
func TestProbationRareFailuresCommitted(t *testing.T) {
	t.Parallel()
	// The window must outlast the apply and the look at its state under
	// -race on a loaded machine: 50 ms did not (the state read committed).
	m, charge := checkedFixture(t, hotswap.RollbackPolicy{Ratio: 0.05, MinCalls: 20, Window: 500 * time.Millisecond})
	events, cancel := m.Subscribe(100)
	defer cancel()
	var n atomic.Int64
	mustApply(t, m, hotswap.Patch{ID: "rare", Impls: map[string]any{
		"billing.Charge": checkedSlot(func(int) error {
			if n.Add(1)%100 == 0 {
				return errors.New("one in a hundred")
			}
			return nil
		}),
	}})
	if p := patchInfo(t, m, "rare").Probation; p == nil || p.State != hotswap.ProbationActive || !p.Until.After(p.Start) {
		t.Fatalf("probation after apply = %+v", p)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = m.Guard(context.Background(), "billing.Charge", func() error { return charge.Load()(1) })
			}
		})
	}
	c := waitEvent(t, events, hotswap.EventCommitted, "rare")
	close(stop)
	wg.Wait()
	pr := c.Probation
	if pr == nil || pr.State != hotswap.ProbationCommitted || pr.Failures > pr.Calls/100+1 || pr.Policy.Ratio != 0.05 {
		t.Fatalf("committed event = %v, evidence %+v", c, pr)
	}
	p := patchInfo(t, m, "rare").Probation
	if p == nil || p.State != hotswap.ProbationCommitted || p.Calls < pr.Calls {
		t.Fatalf("probation after commit = %+v", p)
	}
	for _, e := range m.History() {
		if e.Type == hotswap.EventRolledBack {
			t.Fatalf("rolled back: %v", e)
		}
	}
	// Committed: failures still count, but no longer roll back.
	for range 50 {
		_ = m.Guard(context.Background(), "billing.Charge", func() error { return errors.New("after the window") })
	}
	if got := charge.PatchID(); got != "rare" {
		t.Fatalf("after the commit %q serves", got)
	}
	assertNoRollback(t, m)
}

// TestProbationRatio: a ratio over MinCalls rolls a patch back, also when
// the failures came before the minimum was reached.
func TestProbationRatio(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Ratio: 0.3, MinCalls: 10, Window: time.Hour})
	events, cancel := m.Subscribe(100)
	defer cancel()
	mustApply(t, m, hotswap.Patch{ID: "early", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	ctx := context.Background()
	for range 3 {
		m.Begin(ctx, "billing.Charge").End(errors.New("early failure"))
	}
	for range 6 {
		m.Begin(ctx, "billing.Charge").End(nil)
	}
	if p := patchInfo(t, m, "early").Probation; p.State != hotswap.ProbationActive || p.Calls != 9 || p.Failures != 3 {
		t.Fatalf("before MinCalls: %+v", p)
	}
	m.Begin(ctx, "billing.Charge").End(nil) // the 10th call: 3/10 >= 0.3
	rb := waitEvent(t, events, hotswap.EventRolledBack, "early")
	if rb.Probation.Calls != 10 || rb.Probation.Failures != 3 || !errors.Is(rb.Err, hotswap.ErrProbationFailed) {
		t.Fatalf("rolled-back event = %v, evidence %+v", rb, rb.Probation)
	}
}

// TestProbationNotFaults: errors that are not the patch's fault, and the
// errors its loader accounted for, count the call but no failure.
func TestProbationNotFaults(t *testing.T) {
	t.Parallel()
	m, _ := checkedFixture(t, hotswap.RollbackPolicy{Failures: 1, Window: time.Hour})
	mustApply(t, m, hotswap.Patch{ID: "p", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	ctx := context.Background()
	for _, err := range []error{
		nil,
		context.Canceled,
		fmt.Errorf("call: %w", context.DeadlineExceeded),
		accountedErr{errors.New("process exited")},
	} {
		m.Begin(ctx, "billing.Charge").End(err)
	}
	_ = m.Begin(ctx, "billing.Charge").Panic(accountedErr{errors.New("process exited")})
	if p := patchInfo(t, m, "p").Probation; p.Calls != 5 || p.Failures != 0 {
		t.Fatalf("probation = %+v, want 5 calls and no failure", p)
	}
	// Calls on the baseline or an unknown slot count nothing, anywhere.
	m.Begin(ctx, "no.Such").End(errors.New("x"))
	if c := m.Begin(ctx, "no.Such"); c.PatchID() != "" {
		t.Fatalf("a call of an unknown slot counts against %q", c.PatchID())
	}
	assertNoRollback(t, m)
}

// TestLateFailureCountsAgainstServer: a failure that arrives after a newer
// version took the slot over counts against the version that served the
// call, through a call token and through a loader's host.
func TestLateFailureCountsAgainstServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 2, Window: time.Hour}})
	ctx := context.Background()
	l := &hostLoader{}
	p1, err := f.m.Load(ctx, l, "v1.h")
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f.m, p1)
	call := f.m.Begin(ctx, "example.Greet") // a slow call begins on v1
	if call.PatchID() != "v1.h" {
		t.Fatalf("call counts against %q", call.PatchID())
	}
	mustApply(t, f.m, greetPatch("v2", "v2")) // v2 takes the slot over
	call.End(errors.New("slow failure of v1"))
	l.host.ReportFailure("example.Greet", errors.New("late report of v1's loader"))

	events, cancel := f.m.Subscribe(10)
	defer cancel()
	// Two failures of v1: it is rolled back (it is shadowed, so v2 keeps
	// serving), and v2 counts none.
	if p := patchInfo(t, f.m, "v2").Probation; p.Failures != 0 {
		t.Fatalf("v2 counts %d failures of v1", p.Failures)
	}
	for _, sl := range f.m.Status().Slots {
		if sl.Name == "example.Greet" && sl.Failures != 0 {
			t.Fatalf("the slot shows %d failures for v2", sl.Failures)
		}
	}
	var rb hotswap.Event
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRolledBack {
			rb = e
		}
	}
	if rb.PatchID == "" {
		rb = waitEvent(t, events, hotswap.EventRolledBack, "v1.h")
	}
	if rb.PatchID != "v1.h" || rb.Probation.Failures != 2 {
		t.Fatalf("rolled back %v, evidence %+v", rb, rb.Probation)
	}
	f.serving(t, "v2", 10)
	// Reports through the manager itself count against what serves now.
	f.m.ReportFailure("example.Greet", errors.New("now"))
	if p := patchInfo(t, f.m, "v2").Probation; p.Failures != 1 {
		t.Fatalf("v2 counts %d failures after a report through the manager, want 1", p.Failures)
	}
}

// hostLoader makes a greet patch named after the file and keeps its host.
type hostLoader struct{ host hotswap.Host }

func (l *hostLoader) Kind() hotswap.Kind          { return "h" }
func (l *hostLoader) Match(p string) bool         { return strings.HasSuffix(p, ".h") }
func (l *hostLoader) Close(context.Context) error { return nil }
func (l *hostLoader) Load(_ context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	l.host = host
	return hotswap.Patch{ID: path, Impls: map[string]any{"example.Greet": func(n string) string { return path + ", " + n }}}, nil
}

// TestUnappliedLoadReportsNothing: a loader's report about a patch that
// was never applied counts against nothing.
func TestUnappliedLoadReportsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	mustApply(t, f.m, greetPatch("serving", "s"))
	l := &hostLoader{}
	if _, err := f.m.Load(context.Background(), l, "never.h"); err != nil {
		t.Fatal(err)
	}
	l.host.ReportFailure("example.Greet", errors.New("from a patch never applied"))
	if got := f.m.Status().Slots[1].Failures; got != 0 {
		t.Fatalf("the serving patch counts %d failures of another", got)
	}
}

// TestRecoveredIncomparable: a panic with a value that cannot be compared
// (a slice), reported by a loader's wrapper and panicked on with the same
// value, counts once with a middleware on top, by Recovered or by a call
// token; an equal slice panicked anew is another failure.
func TestRecoveredIncomparable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	l := &hostLoader{}
	p, err := f.m.Load(ctx, l, "slice.h")
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f.m, p)
	failures := func() int64 { return f.m.Status().Slots[1].Failures }
	// wrapper is a loader's boundary: report, then panic on with the value.
	wrapper := func(code func()) {
		defer func() {
			if v := recover(); v != nil {
				l.host.ReportFailure("example.Greet", fmt.Errorf("h: %w", &hotswap.PanicError{Value: v}))
				panic(v)
			}
		}()
		code()
	}
	middleware := func(code func(), recovered func(v any) error) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = recovered(v)
			}
		}()
		wrapper(code)
		return nil
	}
	for i, v := range []any{[]int{1}, map[string]int{"a": 1}, struct{ s []byte }{[]byte("x")}} {
		err := middleware(func() { panic(v) }, func(v any) error { return f.m.Recovered("example.Greet", v) })
		var pe *hotswap.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("Recovered = %v", err)
		}
		if got := failures(); got != int64(2*i+1) {
			t.Fatalf("panic with %T through Recovered: %d failures, want %d", v, got, 2*i+1)
		}
		c := f.m.Begin(ctx, "example.Greet")
		_ = middleware(func() { panic(v) }, c.Panic)
		if got := failures(); got != int64(2*i+2) {
			t.Fatalf("panic with %T through a call token: %d failures, want %d", v, got, 2*i+2)
		}
	}
	// An equal slice panicked in code no loader runs counts on its own.
	_ = f.m.Recovered("example.Greet", []int{1})
	if got := failures(); got != 7 {
		t.Fatalf("a new slice panic: %d failures, want 7", got)
	}
}

// TestGuard: the generic wrapper counts errors and panics, and turns a
// panic into an error.
func TestGuard(t *testing.T) {
	t.Parallel()
	m, charge := checkedFixture(t, hotswap.RollbackPolicy{Failures: 100, Window: time.Hour})
	mustApply(t, m, hotswap.Patch{ID: "g", Impls: map[string]any{"billing.Charge": checkedSlot(func(n int) error {
		switch n {
		case 1:
			return errors.New("declined")
		case 2:
			panic("broken")
		}
		return nil
	})}})
	ctx := context.Background()
	call := func(n int) error { return m.Guard(ctx, "billing.Charge", func() error { return charge.Load()(n) }) }
	if err := call(0); err != nil {
		t.Fatalf("Guard of a success = %v", err)
	}
	if err := call(1); err == nil || err.Error() != "declined" {
		t.Fatalf("Guard of an error = %v, want the error as it is", err)
	}
	err := call(2)
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) || pe.Value != "broken" || len(pe.Stack) == 0 || !strings.Contains(err.Error(), "billing.Charge") {
		t.Fatalf("Guard of a panic = %v", err)
	}
	if p := patchInfo(t, m, "g").Probation; p.Calls != 3 || p.Failures != 2 {
		t.Fatalf("probation = %+v, want 3 calls and 2 failures", p)
	}
	// The baseline counts nothing and Guard still recovers.
	if err := m.Revert(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := m.Guard(ctx, "billing.Charge", func() error { panic("in the baseline") }); !errors.As(err, &pe) {
		t.Fatalf("Guard of a baseline panic = %v", err)
	}
}

// TestBadRollbackPolicy: a ratio that can never be reached is refused,
// and the registry stays free.
func TestBadRollbackPolicy(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	for _, r := range []float64{1.5, math.NaN(), math.Inf(1)} {
		_, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Ratio: r}})
		if !errors.Is(err, hotswap.ErrBadPolicy) || !strings.Contains(err.Error(), "Ratio") {
			t.Fatalf("Ratio %v: New = %v, want ErrBadPolicy naming Ratio", r, err)
		}
	}
	// Negative thresholds are off: no probation.
	registry.MustRegister(reg, "billing.Charge", func(int) error { return nil })
	m := mustNew(t, reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Ratio: -1, Failures: -1}})
	defer m.Close(context.Background())
	mustApply(t, m, hotswap.Patch{ID: "p", Impls: map[string]any{"billing.Charge": checkedSlot(func(int) error { return nil })}})
	if p := patchInfo(t, m, "p").Probation; p != nil {
		t.Fatalf("probation without a policy: %+v", p)
	}
}

// TestProbationEndsWithRevert: a patch reverted on probation is neither
// committed nor rolled back, and Close with probations running leaves
// nothing behind (TestMain checks for goroutines).
func TestProbationEndsWithRevert(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Window: time.Hour}})
	ctx := context.Background()
	mustApply(t, f.m, greetPatch("a", "a"))
	mustApply(t, f.m, greetPatch("b", "b"))
	if err := f.m.Revert(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventCommitted || e.Type == hotswap.EventRolledBack {
			t.Fatalf("unexpected %v", e)
		}
	}
}

// TestBeginInValidateDoesNotWait: a Validate hook that begins a call on a
// patch whose rollback waits for the hook's own change gets its token at
// once instead of waiting for ever.
func TestBeginInValidateDoesNotWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1, Window: time.Hour}})
	mustApply(t, f.m, greetPatch("bad", "bad"))
	p := hotswap.Patch{ID: "next", Impls: map[string]any{"billing.Price": func(c int) int { return c }}}
	var got string
	p.Validate = func(ctx context.Context) error {
		f.m.ReportFailure("example.Greet", errors.New("trips bad")) // its revert waits for this change
		c := f.m.Begin(ctx, "example.Greet")
		got = c.PatchID()
		c.End(nil)
		return nil
	}
	within(t, "Begin from a Validate hook", func() { mustApply(t, f.m, p) })
	if got != "bad" {
		t.Fatalf("the hook's call counts against %q, want bad (still serving)", got)
	}
	waitFor(t, func() bool { return f.greet.PatchID() == "" })
}

// TestProbationRace: callers hammer slots through tokens while patches
// are applied, replaced, reverted and rolled back.
func TestProbationRace(t *testing.T) {
	t.Parallel()
	m, charge := checkedFixture(t, hotswap.RollbackPolicy{Failures: 50, Ratio: 0.5, MinCalls: 10, Window: time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = m.Guard(context.Background(), "billing.Charge", func() error { return charge.Load()(i) })
				_ = m.Status()
			}
		})
	}
	ctx := context.Background()
	for i := range 200 {
		id := fmt.Sprintf("p%d", i)
		p := hotswap.Patch{ID: id, Impls: map[string]any{"billing.Charge": checkedSlot(func(n int) error {
			if n%(i%4+1) == 0 {
				return errors.New("some fail")
			}
			return nil
		})}}
		if i > 0 && i%3 == 0 {
			p.Replaces = fmt.Sprintf("p%d", i-1)
		}
		if _, err := m.Apply(ctx, p); err != nil && !errors.Is(err, hotswap.ErrUnknownPatch) {
			t.Fatal(err)
		}
		if i%5 == 0 {
			_ = m.Revert(ctx, id)
		}
	}
	close(stop)
	wg.Wait()
}
