package hotswap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// kindLoader is a loader of a kind the framework does not know; it loads
// every *.k file as a patch of example.Greet and logs what happens to it.
type kindLoader struct {
	kind hotswap.Kind
	log  *[]string
	mu   *sync.Mutex
	hold chan struct{} // Close waits on it, if set
}

func (l *kindLoader) Kind() hotswap.Kind     { return l.kind }
func (l *kindLoader) Match(path string) bool { return strings.HasSuffix(path, ".k") }
func (l *kindLoader) Load(_ context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	s, ok := host.Slot("example.Greet")
	if !ok {
		return hotswap.Patch{}, hotswap.ErrUnknownSlot
	}
	if s.Type().String() != "func(string) string" {
		return hotswap.Patch{}, &hotswap.TypeMismatchError{Slot: s.Name(), Want: s.Type(), GotName: "func(string) string"}
	}
	return hotswap.Patch{ID: path, Impls: map[string]any{"example.Greet": func(n string) string { return string(l.kind) + ", " + n }},
		Retire: func(context.Context) error { l.note("retire " + path); return nil }}, nil
}
func (l *kindLoader) Close(ctx context.Context) error {
	if l.hold != nil {
		select {
		case <-l.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.note("close " + string(l.kind))
	return nil
}
func (l *kindLoader) note(s string) {
	l.mu.Lock()
	*l.log = append(*l.log, s)
	l.mu.Unlock()
}

// TestLoadersOpenKindAndCloseOrder: a loader of its own kind loads and
// applies (kinds are open); Close retires the patches first, then closes
// the loaders, newest first, each once.
func TestLoadersOpenKindAndCloseOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	var log []string
	var mu sync.Mutex
	a := &kindLoader{kind: "wasm", log: &log, mu: &mu}
	b := &kindLoader{kind: "lua", log: &log, mu: &mu}
	for _, l := range []hotswap.Loader{a, b} {
		if err := f.m.Attach(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.Attach(a); !errors.Is(err, hotswap.ErrDuplicateLoader) {
		t.Fatalf("second Attach of a loader: err = %v, want ErrDuplicateLoader", err)
	}
	if got := f.m.Loaders(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("Loaders() = %v", got)
	}
	p, err := f.m.Load(context.Background(), a, "one.k")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != "wasm" || p.Source != "one.k" {
		t.Fatalf("loaded patch kind %q source %q, want the loader's kind and the path", p.Kind, p.Source)
	}
	mustApply(t, f.m, p)
	if got := f.greet.Load()("x"); got != "wasm, x" {
		t.Fatalf("serving %q", got)
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(log, "; ") != "retire one.k; close lua; close wasm" {
		t.Fatalf("order = %q, want the retire first, then the loaders newest first, once each", log)
	}
	if err := f.m.Attach(&kindLoader{kind: "late", log: &log, mu: &mu}); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Attach after Close: err = %v, want ErrClosed", err)
	}
}

// TestCloseBoundedByContext: a loader whose Close does not return holds
// the manager's Close no longer than the caller's context; a later Close
// with time to spare sees the shutdown finish.
func TestCloseBoundedByContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	var log []string
	var mu sync.Mutex
	hold := make(chan struct{})
	var release sync.Once
	defer release.Do(func() { close(hold) })
	if err := f.m.Attach(&kindLoader{kind: "slow", log: &log, mu: &mu, hold: hold}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	within(t, "Close with an ended context", func() {
		if err := f.m.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Close = %v, want context.Canceled", err)
		}
	})
	// The shutdown went on: slots are back and changes are refused.
	if _, err := f.m.Apply(context.Background(), greetPatch("p", "p")); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	release.Do(func() { close(hold) })
	within(t, "Close", func() {
		if err := f.m.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
	if len(log) != 1 || log[0] != "close slow" {
		t.Fatalf("log = %v", log)
	}
}

// TestRecordedEvents: Record stamps and keeps events that did not come
// from a change, refuses the types only the manager records, and logs.
func TestRecordedEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	if f.m.Logger() == nil {
		t.Fatal("Logger() is nil")
	}
	mustApply(t, f.m, greetPatch("p", "p"))
	if err := f.m.Record(hotswap.Event{Type: hotswap.EventRestarted, PatchID: "p", Err: errors.New("exited")}); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Record(hotswap.Event{Type: "my-own", Note: "n"}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []hotswap.EventType{hotswap.EventApplied, hotswap.EventReverted, hotswap.EventRolledBack, hotswap.EventRetired} {
		if err := f.m.Record(hotswap.Event{Type: typ}); !errors.Is(err, hotswap.ErrReservedEvent) {
			t.Fatalf("Record(%s) = %v, want ErrReservedEvent", typ, err)
		}
	}
	if err := f.m.Record(hotswap.Event{}); !errors.Is(err, hotswap.ErrNoEventType) {
		t.Fatalf("Record of no type = %v", err)
	}
	h := f.m.History()
	if len(h) != 3 || h[1].Type != hotswap.EventRestarted || h[1].Generation != 1 || h[1].Time.IsZero() || h[2].Type != "my-own" {
		t.Fatalf("history = %v", h)
	}
}

// TestRecoveredExactlyOnce: code above a slot reports through Recovered;
// a panic that the loader reported before it went on up is not counted
// again, one that no loader reported (a manual patch's, or one above the
// slot) is counted once.
func TestRecoveredExactlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	p := greetPatch("loaded", "loaded")
	p.Kind = hotswap.KindScript
	mustApply(t, f.m, p)
	failures := func() int64 { return f.m.Status().Slots[1].Failures }

	// A script's wrapper reports the panic value, then it goes on up.
	f.m.ReportFailure("example.Greet", fmt.Errorf("script x: %w", &hotswap.PanicError{Value: "script panicked"}))
	err := f.m.Recovered("example.Greet", "script panicked")
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) || pe.Value != "script panicked" || len(pe.Stack) == 0 {
		t.Fatalf("Recovered = %v, want a *PanicError with value and stack", err)
	}
	if got := failures(); got != 1 {
		t.Fatalf("loader report + Recovered of the same panic = %d failures, want 1", got)
	}
	// A process adapter reports an error and panics with that error.
	callErr := errors.New("process call failed")
	f.m.ReportFailure("example.Greet", callErr)
	_ = f.m.Recovered("example.Greet", callErr)
	if got := failures(); got != 2 {
		t.Fatalf("after a process failure: %d failures, want 2", got)
	}
	// A panic above the slot (encoding the patch's result) is the
	// middleware's to count, as is the same value again once taken.
	_ = f.m.Recovered("example.Greet", errors.New("encoding the response"))
	_ = f.m.Recovered("example.Greet", "script panicked")
	if got := failures(); got != 4 {
		t.Fatalf("after two panics no loader reported: %d failures, want 4", got)
	}
	// An unreported panic of a manual patch counts once.
	mustApply(t, f.m, greetPatch("manual", "manual"))
	_ = f.m.Recovered("example.Greet", []int{1}) // a new slice, not a value a loader reported
	if got := failures(); got != 1 {
		t.Fatalf("failures of a manual patch after Recovered = %d, want 1", got)
	}
}

// TestManagerLoadRecoversPanic: a loader whose Load panics yields a
// *PanicError, not a crash.
func TestManagerLoadRecoversPanic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Logger: slog.New(slog.DiscardHandler)})
	_, err := f.m.Load(context.Background(), panicLoader{}, "x.k")
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *PanicError", err)
	}
	_ = time.Second
}

type panicLoader struct{}

func (panicLoader) Kind() hotswap.Kind          { return "panicky" }
func (panicLoader) Match(string) bool           { return true }
func (panicLoader) Close(context.Context) error { return nil }
func (panicLoader) Load(context.Context, hotswap.Host, string) (hotswap.Patch, error) {
	panic("load broke")
}

// accountedErr is an error a loader accounted for.
type accountedErr struct{ error }

func (accountedErr) Accounted() {}

// TestRecoveredAccounted: an error marked Accounted is never counted by
// Recovered, reported or not (a caller's cancelled call, a crash counted
// once by its supervisor).
func TestRecoveredAccounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	p := greetPatch("proc", "proc")
	p.Kind = hotswap.KindProcess
	mustApply(t, f.m, p)
	err := f.m.Recovered("example.Greet", fmt.Errorf("call: %w", accountedErr{errors.New("process exited")}))
	if err == nil {
		t.Fatal("Recovered returned nil")
	}
	if got := f.m.Status().Slots[1].Failures; got != 0 {
		t.Fatalf("an accounted error counted %d failures, want 0", got)
	}
}
