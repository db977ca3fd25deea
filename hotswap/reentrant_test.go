package hotswap_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// hang bounds a call that must not block; it is a hang detector, far
// from the call's own duration.
const hang = time.Minute

// within runs f and fails the test if it has not returned after hang.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatalf("%s did not return: deadlock", what)
	}
}

// TestValidateCallsBack: a Validate hook runs while its change holds the
// lock, so every changing method called from it fails at once with
// ErrReentrant, with fresh contexts as well as the hook's own; reading
// methods work.
func TestValidateCallsBack(t *testing.T) {
	t.Parallel()
	calls := map[string]func(m *hotswap.Manager, ctx context.Context) error{
		"Apply": func(m *hotswap.Manager, ctx context.Context) error {
			_, err := m.Apply(ctx, greetPatch("inner", "inner"))
			return err
		},
		"Apply/background": func(m *hotswap.Manager, _ context.Context) error {
			_, err := m.Apply(context.Background(), greetPatch("inner", "inner"))
			return err
		},
		"Revert":   func(m *hotswap.Manager, ctx context.Context) error { return m.Revert(ctx, "base") },
		"RollBack": func(m *hotswap.Manager, ctx context.Context) error { return m.RollBack(ctx, "base", errors.New("x")) },
		"Close":    func(m *hotswap.Manager, _ context.Context) error { return m.Close(context.Background()) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, hotswap.Options{})
			ctx := context.Background()
			if _, err := f.m.Apply(ctx, greetPatch("base", "base")); err != nil {
				t.Fatal(err)
			}
			var inner error
			p := greetPatch("outer", "outer")
			p.Validate = func(ctx context.Context) error {
				_ = f.m.Status()
				_ = f.m.History()
				_ = f.m.Generation()
				f.m.ReportFailure("example.Greet", errors.New("noted"))
				inner = call(f.m, ctx)
				return nil
			}
			within(t, "Apply with a re-entrant Validate hook", func() {
				if _, err := f.m.Apply(ctx, p); err != nil {
					t.Errorf("outer Apply: %v", err)
				}
			})
			if !errors.Is(inner, hotswap.ErrReentrant) {
				t.Fatalf("%s from Validate = %v, want ErrReentrant", name, inner)
			}
			t.Logf("%s: %v", name, inner)
			f.serving(t, "outer", 10)
			// The failure reported from the hook counted against the patch
			// that served then, base: reverting outer shows it.
			if err := f.m.Revert(ctx, "outer"); err != nil {
				t.Fatal(err)
			}
			if st := f.m.Status(); st.Slots[1].PatchID != "base" || st.Slots[1].Failures != 1 {
				t.Fatalf("after the revert: %+v, want base with the 1 failure reported from Validate", st.Slots[1])
			}
		})
	}
}

// TestRetireCallsBack: Retire hooks hold no lock, so changes from them
// work, and Close from them returns without waiting for the retire that
// calls it; a Close from outside still waits for everything.
func TestRetireCallsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	applied := make(chan error, 1)
	closed := make(chan error, 1)
	p := greetPatch("a", "a")
	p.Retire = func(ctx context.Context) error {
		_, err := f.m.Apply(ctx, greetPatch("from-retire", "r"))
		applied <- err
		closed <- f.m.Close(context.Background())
		return nil
	}
	if _, err := f.m.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	within(t, "Close from a Retire hook", func() {
		if err := <-applied; err != nil {
			t.Errorf("Apply from Retire: %v", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("Close from Retire: %v", err)
		}
	})
	within(t, "Close after a Retire hook closed the manager", func() { f.m.Close(context.Background()) })
	f.serving(t, "hello", 10)
	var retired bool
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRetired && e.PatchID == "from-retire" {
			retired = true
		}
	}
	if !retired {
		t.Fatalf("the patch applied from the Retire hook was not retired at Close: %v", f.m.History())
	}
}

// TestCloseWaitsForRetireCallingClose: Close from outside waits for a retire
// hook that itself calls Close.
func TestCloseWaitsForRetireCallingClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	var hookDone bool
	p := greetPatch("a", "a")
	p.Retire = func(context.Context) error {
		f.m.Close(context.Background())
		hookDone = true
		return nil
	}
	if _, err := f.m.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	within(t, "Close", func() { f.m.Close(context.Background()) })
	if !hookDone {
		t.Fatal("Close returned before the Retire hook ended")
	}
}

// callbackHandler is a slog handler that calls back into a manager on
// every record.
type callbackHandler struct {
	mu   sync.Mutex
	m    *hotswap.Manager
	errs []error
	n    int
}

func (h *callbackHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *callbackHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *callbackHandler) WithGroup(string) slog.Handler            { return h }
func (h *callbackHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	m := h.m
	h.n++
	n := h.n
	h.mu.Unlock()
	if m == nil {
		return nil
	}
	_ = m.Status()
	var err error
	switch {
	case r.Message == "hotswap: applied" && n < 4:
		err = m.Revert(context.Background(), "p")
	case r.Message == "hotswap: retired":
		err = m.Close(context.Background())
	}
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
	return nil
}

// TestLoggerCallsBack: the logger's handler runs with no lock held, so a
// handler that changes or closes the manager works.
func TestLoggerCallsBack(t *testing.T) {
	t.Parallel()
	h := &callbackHandler{}
	f := newFixture(t, hotswap.Options{Logger: slog.New(h)})
	h.mu.Lock()
	h.m = f.m
	h.mu.Unlock()
	within(t, "Apply with a logger that reverts and closes", func() {
		if _, err := f.m.Apply(context.Background(), greetPatch("p", "p")); err != nil {
			t.Errorf("Apply: %v", err)
		}
	})
	within(t, "Close", func() { f.m.Close(context.Background()) })
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		if err != nil {
			t.Errorf("call from the logger: %v", err)
		}
	}
	f.serving(t, "hello", 10)
}

// TestRollbackRetireCallsBack: the rollback path runs the Retire hook like
// any other retire; a hook that applies a fallback and closes works.
func TestRollbackRetireCallsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1}})
	got := make(chan error, 1)
	p := greetPatch("bad", "bad")
	p.Retire = func(ctx context.Context) error {
		_, err := f.m.Apply(ctx, greetPatch("fallback", "fallback"))
		got <- err
		return nil
	}
	if _, err := f.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.m.ReportFailure("example.Greet", errors.New("boom"))
	within(t, "rollback", func() {
		if err := <-got; err != nil {
			t.Errorf("Apply from a rolled-back patch's Retire: %v", err)
		}
	})
	f.serving(t, "fallback", 10)
}

// TestShutdownRevertsAreNotFailures: Close reverts without an error and
// says why in a note; retired events carry the generation of the change
// that retired them.
func TestShutdownRevertsAreNotFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	p := greetPatch("a", "a")
	p.Retire = func(context.Context) error { return nil }
	if _, err := f.m.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	b := greetPatch("b", "b")
	b.Replaces = "a"
	if _, err := f.m.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.m.Close(context.Background())
	gens := map[string]uint64{}
	for _, e := range f.m.History() {
		switch e.Type {
		case hotswap.EventReverted:
			if e.PatchID == "b" && (e.Err != nil || e.Note == "") {
				t.Errorf("shutdown revert: err=%v note=%q, want no error and a note", e.Err, e.Note)
			}
			gens[e.PatchID] = e.Generation
		case hotswap.EventRetired:
			if e.Generation != gens[e.PatchID] {
				t.Errorf("retired %s at gen %d, reverted at gen %d", e.PatchID, e.Generation, gens[e.PatchID])
			}
		}
	}
}

// TestValidateDeepCallsBack: a hook that calls back from deep in its own
// calls is still recognised.
func TestValidateDeepCallsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	var inner error
	var deep func(n int)
	deep = func(n int) {
		if n == 0 {
			_, inner = f.m.Apply(context.Background(), greetPatch("inner", "inner"))
			return
		}
		deep(n - 1)
	}
	p := greetPatch("outer", "outer")
	p.Validate = func(context.Context) error { deep(2000); return nil }
	within(t, "Apply", func() {
		if _, err := f.m.Apply(context.Background(), p); err != nil {
			t.Errorf("Apply: %v", err)
		}
	})
	if !errors.Is(inner, hotswap.ErrReentrant) {
		t.Fatalf("deep Apply from Validate = %v, want ErrReentrant", inner)
	}
}

// closingHandler closes its manager when it logs a revert.
type closingHandler struct {
	callbackHandler
}

func (h *closingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "hotswap: reverted" {
		h.mu.Lock()
		m := h.m
		h.mu.Unlock()
		h.errs = append(h.errs, m.Close(context.Background()))
	}
	return nil
}

// TestLoggerClosesDuringClose: Close logs the reverts it makes; a logger
// that calls Close from there does not wait for the Close calling it.
func TestLoggerClosesDuringClose(t *testing.T) {
	t.Parallel()
	h := &closingHandler{}
	f := newFixture(t, hotswap.Options{Logger: slog.New(h)})
	h.mu.Lock()
	h.m = f.m
	h.mu.Unlock()
	if _, err := f.m.Apply(context.Background(), greetPatch("p", "p")); err != nil {
		t.Fatal(err)
	}
	within(t, "Close with a logger that closes", func() { f.m.Close(context.Background()) })
	if len(h.errs) != 1 || h.errs[0] != nil {
		t.Fatalf("Close from the logger: %v", h.errs)
	}
}
