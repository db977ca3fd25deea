package hotswap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// panicHandler is a slog.Handler that panics on every record whose message
// is msg.
type panicHandler struct{ msg string }

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h panicHandler) WithGroup(string) slog.Handler            { return h }
func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		panic("handler broke on " + r.Message)
	}
	return nil
}

// TestLoggerPanics: a logger whose handler panics neither breaks the change
// that logs (the retire it starts still runs) nor makes Close wait forever.
func TestLoggerPanics(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{"hotswap: reverted", "hotswap: retired", "hotswap: applied"} {
		t.Run(msg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, hotswap.Options{Logger: slog.New(panicHandler{msg})})
			retired := make(chan struct{})
			p := greetPatch("p", "p")
			p.Retire = func(context.Context) error { close(retired); return nil }
			within(t, "Apply and Revert with a panicking logger", func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("a change panicked with the logger's panic: %v", v)
					}
				}()
				if _, err := f.m.Apply(context.Background(), p); err != nil {
					t.Errorf("Apply: %v", err)
				}
				if err := f.m.Revert(context.Background(), "p"); err != nil {
					t.Errorf("Revert: %v", err)
				}
			})
			within(t, "the retire", func() { <-retired })
			within(t, "Close", func() { f.m.Close(context.Background()) })
			f.serving(t, "hello", 10)
		})
	}
}

// TestCloseStorm: Close from ten goroutines, from a Retire hook, from a
// subscriber and from the logger, racing Applies and Reverts, all return;
// a subscriber that never reads holds nothing up; every slot ends at its
// baseline and no goroutine is left (goleak in TestMain).
func TestCloseStorm(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		h := &callbackHandler{}
		f := newFixture(t, hotswap.Options{Logger: slog.New(h)})
		h.mu.Lock()
		h.m = f.m
		h.mu.Unlock()
		_, _ = f.m.Subscribe(0) // never read
		sub, _ := f.m.Subscribe(1)
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				p := greetPatch(fmt.Sprintf("r%d-%d", round, i), "w")
				p.Retire = func(ctx context.Context) error {
					_, _ = f.m.Apply(ctx, greetPatch(p.ID+"-next", "next"))
					_ = f.m.Revert(ctx, fmt.Sprintf("r%d-%d", round, (i+1)%10))
					return f.m.Close(context.Background())
				}
				_, _ = f.m.Apply(ctx, p)
				_ = f.m.Revert(ctx, p.ID)
			})
			wg.Go(func() { _ = f.m.Close(context.Background()) })
		}
		wg.Go(func() {
			for range sub {
				_ = f.m.Close(context.Background())
			}
		})
		within(t, "the storm", wg.Wait)
		within(t, "Close", func() { f.m.Close(context.Background()) })
		f.serving(t, "hello", 10)
		if _, err := f.m.Apply(ctx, greetPatch("late", "late")); !errors.Is(err, hotswap.ErrClosed) {
			t.Fatalf("Apply after Close = %v, want ErrClosed", err)
		}
	}
}

// TestApplyAllocs: with nothing to log, an Apply and a Revert allocate
// no more than before hooks ran outside the lock (13 then): an event that
// is not logged is not kept for later.
func TestApplyAllocs(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	p := greetPatch("p", "p")
	n := testing.AllocsPerRun(200, func() {
		if _, err := f.m.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Revert(ctx, "p"); err != nil {
			t.Fatal(err)
		}
	})
	if n > 13 {
		t.Fatalf("Apply and Revert allocate %v times, want at most 13", n)
	}
}

// TestRetireIgnoresContext: a Retire hook that ignores its context and
// never returns is abandoned once RetireTimeout and a grace have passed:
// Close returns, and the retired event says what happened.
func TestRetireIgnoresContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{RetireTimeout: 50 * time.Millisecond})
	stuck := make(chan struct{})
	defer close(stuck) // lets the abandoned hook end, for goleak
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error { <-stuck; return nil }
	if _, err := f.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	within(t, "Close with a stuck Retire hook", func() { f.m.Close(context.Background()) })
	var got error
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRetired && e.PatchID == "p" {
			got = e.Err
		}
	}
	if !errors.Is(got, hotswap.ErrRetireAbandoned) {
		t.Fatalf("retired event error = %v, want ErrRetireAbandoned", got)
	}
	t.Log(got)
}

// TestRetireWaitsForGoroutineClosing: a Retire hook that waits for a
// goroutine of its own calling Close (which waits for the hook) is
// abandoned after RetireTimeout and a grace; then both return.
func TestRetireWaitsForGoroutineClosing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{RetireTimeout: 50 * time.Millisecond})
	hookDone := make(chan struct{})
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error {
		defer close(hookDone)
		done := make(chan struct{})
		go func() { defer close(done); f.m.Close(context.Background()) }()
		<-done
		return nil
	}
	if _, err := f.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	within(t, "the Retire hook", func() { <-hookDone })
	within(t, "Close", func() { f.m.Close(context.Background()) })
}

// failureClosingHandler closes the manager when a failure report is
// logged, and panics on the next record.
type failureClosingHandler struct {
	m      *hotswap.Manager
	closed chan error
}

func (h *failureClosingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *failureClosingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *failureClosingHandler) WithGroup(string) slog.Handler            { return h }
func (h *failureClosingHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "hotswap: failure reported":
		h.closed <- h.m.Close(context.Background())
	case "hotswap: failure on baseline slot":
		panic("handler broke")
	}
	return nil
}

// TestLoggerOnFailureReport: ReportFailure's own log records go through
// the logger like every other: a handler that closes the manager there
// does not wait for a Retire hook that drains the call reporting the
// failure, and one that panics does not reach the caller.
func TestLoggerOnFailureReport(t *testing.T) {
	t.Parallel()
	h := &failureClosingHandler{closed: make(chan error, 1)}
	f := newFixture(t, hotswap.Options{Logger: slog.New(h)})
	h.m = f.m
	inflight := make(chan struct{}) // the call that reports, still running
	p := greetPatch("p", "p")
	p.Retire = func(context.Context) error { <-inflight; return nil }
	if _, err := f.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	within(t, "ReportFailure with a logger that panics", func() {
		defer func() {
			if v := recover(); v != nil {
				t.Errorf("ReportFailure panicked with the logger's panic: %v", v)
			}
		}()
		f.m.ReportFailure("billing.Price", errors.New("boom"))
	})
	within(t, "ReportFailure with a logger that closes", func() {
		defer close(inflight)
		f.m.ReportFailure("example.Greet", errors.New("boom"))
	})
	if err := <-h.closed; err != nil {
		t.Fatalf("Close from the logger: %v", err)
	}
	within(t, "Close", func() { f.m.Close(context.Background()) })
	// The report whose log record closed the manager was counted: the
	// patch it was for is the one the shutdown retired.
	var retired bool
	for _, e := range f.m.History() {
		retired = retired || e.Type == hotswap.EventRetired && e.PatchID == "p"
	}
	if !retired {
		t.Fatalf("the manager closed from the logger did not retire p: %v", f.m.History())
	}
}
