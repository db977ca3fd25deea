package hotpatch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// hookHandler is a slog handler that runs fn on each record it is given:
// user code that the manager calls back while it is inside a change.
type hookHandler struct{ fn func(slog.Record) }

func (h hookHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error { h.fn(r); return nil }
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h hookHandler) WithGroup(string) slog.Handler                 { return h }

// TestAttack3CloseFromLoggerDuringStart: a logger that closes the
// runtime on a record logged while Start replays the journal (here the
// rejection of a patch handed over in code, which has no copy) neither
// deadlocks Start nor waits for it.
func TestAttack3CloseFromLoggerDuringStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt1, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt1, "t.F", func() int { return 1 })
	if err := rt1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt1.Manager().Apply(context.Background(), hotswap.Patch{ID: "manual", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Journal().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	var rt2 atomic.Pointer[Runtime]
	closed := make(chan error, 1)
	var once atomic.Bool
	log := slog.New(hookHandler{fn: func(r slog.Record) {
		if rt := rt2.Load(); rt != nil && once.CompareAndSwap(false, true) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a hang detector
			defer cancel()
			closed <- rt.Close(ctx)
		}
	}})
	rt, err := New(Options{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt, "t.F", func() int { return 1 })
	rt2.Store(rt)
	started := make(chan error, 1)
	go func() { started <- rt.Start(context.Background()) }()
	select {
	case err := <-started:
		t.Logf("Start: %v", err)
	case <-time.After(10 * time.Second): // a hang detector
		t.Fatal("Start hangs: the logger's Close waits for the runtime's lock Start holds")
	}
	if !once.Load() {
		t.Fatal("nothing was logged during Start")
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close from the logger: %v, want nil (the shutdown started)", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatalf("Close after Start: %v", err)
	}
}

// TestAttack3CloseFromLoggerOnWatchWorker: a logger that closes the
// runtime on the applied record of a file, which the watch's worker logs,
// does not wait for the watch's Close, which waits for that worker.
func TestAttack3CloseFromLoggerOnWatchWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rtp atomic.Pointer[Runtime]
	closed := make(chan error, 1)
	var once atomic.Bool
	log := slog.New(hookHandler{fn: func(r slog.Record) {
		if r.Message != "hotswap: applied" {
			return
		}
		if rt := rtp.Load(); rt != nil && once.CompareAndSwap(false, true) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a hang detector
			defer cancel()
			closed <- rt.Close(ctx)
		}
	}})
	rt, err := New(Options{Dir: dir, Logger: log, StateDir: NoStateDir})
	if err != nil {
		t.Fatal(err)
	}
	rtp.Store(rt)
	MustRegister(rt, "t.F", func() int { return 1 })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	place(t, dir, "f.go", []byte("package patch\n\n//hotpatch:slot t.F\nfunc F() int { return 2 }\n"))
	if err := <-closed; err != nil {
		t.Fatalf("Close from the logger: %v, want nil (the shutdown started)", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestAttack3CloseFromRetireDuringClose: a Retire hook that closes the
// runtime (a patch that stops the server when it is taken out) while the
// runtime's Close retires it returns at once, rather than waiting for the
// Close that waits for it.
func TestAttack3CloseFromRetireDuringClose(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt, "t.F", func() int { return 1 })
	closed := make(chan error, 1)
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }},
		Retire: func(context.Context) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a hang detector
			defer cancel()
			closed <- rt.Close(ctx)
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close from the Retire hook: %v, want nil (the shutdown is under way)", err)
	}
}

// TestAttack3AccessorsFromLoggerDuringStart: Journal and Admin, called
// from the logger while Start replays the journal, answer (the journal
// is not open yet: nil) rather than wait for Start, which waits for them.
func TestAttack3AccessorsFromLoggerDuringStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt1, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt1, "t.F", func() int { return 1 })
	if err := rt1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt1.Manager().Apply(context.Background(), hotswap.Patch{ID: "manual", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Journal().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rtp atomic.Pointer[Runtime]
	var asked atomic.Bool
	log := slog.New(hookHandler{fn: func(slog.Record) {
		if rt := rtp.Load(); rt != nil {
			_, _ = rt.Journal(), rt.Admin()
			asked.Store(true)
		}
	}})
	rt, err := New(Options{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "t.F", func() int { return 1 })
	rtp.Store(rt)
	started := make(chan error, 1)
	go func() { started <- rt.Start(context.Background()) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a hang detector
		t.Fatal("Start hangs: the logger's Journal waits for the lock Start holds")
	}
	if !asked.Load() {
		t.Fatal("nothing was logged during Start")
	}
}
