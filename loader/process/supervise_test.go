//go:build linux

package process

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestPanicInCall: the caller gets an error carrying the panic, the
// manager hears of it, and the process is replaced while other calls keep
// working.
func TestPanicInCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()

	_, err := e.s.panicky.Load()("boom")
	var ce *CallError
	var pe *hotswap.PanicError
	if !errors.As(err, &ce) || !errors.As(err, &pe) || !strings.Contains(err.Error(), "boom from plugin") {
		t.Fatalf("Panic = %v, want a *CallError with a *hotswap.PanicError", err)
	}
	if !strings.Contains(string(pe.Stack), "main.") {
		t.Errorf("panic stack lacks the plugin's frames:\n%s", pe.Stack)
	}
	if got, err := e.s.panicky.Load()("fine"); err != nil || got != "fine v1" {
		t.Fatalf("after the panic: %q, %v", got, err)
	}
	eventually(t, 10*time.Second, "a new process", func() bool { return e.s.pid.Load()() != pid })
	eventually(t, 10*time.Second, "the old process to stop", func() bool { return !alive(pid) })
	if f := slotFailures(e.mgr, "test.Panic"); f < 1 {
		t.Fatalf("failures reported for test.Panic: %d", f)
	}
}

// TestPanicWithoutErrorResult: a slot func without an error result panics
// with the *CallError.
func TestPanicWithoutErrorResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	var got any
	func() {
		defer func() { got = recover() }()
		e.s.panicNoErr.Load()("x")
	}()
	ce, ok := got.(*CallError)
	if !ok || ce.Slot != "test.PanicNoErr" || !strings.Contains(ce.Error(), "no error result: x") {
		t.Fatalf("recovered %v", got)
	}
}

// TestKilledMidCall kills the process during a call: the call fails at
// once, the process is restarted, and calls work again. The call hangs in
// the plugin (it ignores its context), so only the process's death can
// end it: a call that returns at all was ended by the kill.
func TestKilledMidCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
	p := e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	errc := make(chan error, 1)
	go func() { errc <- e.s.hang.Load()(context.Background()) }()
	waitStarted(t, e, "test.Hang", pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		var ce *CallError
		if !errors.As(err, &ce) || !errors.Is(err, ErrProcessExited) {
			t.Fatalf("call in flight returned %v, want a *CallError wrapping ErrProcessExited", err)
		}
	case <-time.After(60 * time.Second): // a hang detector
		t.Fatal("the call in flight hangs after its process died")
	}
	eventually(t, 10*time.Second, "the restarted process to serve", func() bool {
		var got string
		func() {
			defer func() { recover() }()
			got = e.s.greet.Load()("again")
		}()
		return got == "hello v1, again"
	})
	if e.s.greet.Load() == nil || e.mgr.Status().Stack[0].ID != p.ID {
		t.Fatal("the patch should still be applied after a restart")
	}
	if slotFailures(e.mgr, "test.Canceled") < 1 { // a crash is reported once, on the first slot
		t.Error("the crash was not reported to the manager")
	}
}

// TestExitMidCall: the plugin exits inside a call (os.Exit).
func TestExitMidCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
	e.apply(t, "greet-v1.proc")
	var got any
	func() {
		defer func() { got = recover() }()
		e.s.exit.Load()(7)
	}()
	ce, ok := got.(*CallError)
	if !ok || !errors.Is(ce, ErrProcessExited) {
		t.Fatalf("recovered %v", got)
	}
	eventually(t, 10*time.Second, "an exit event in the logs", func() bool {
		return strings.Contains(e.logs.String(), "exit status 7")
	})
}

// TestCrashLoopRollsBack: a patch whose process keeps dying is rolled back
// after the restart policy's limit, with an event.
func TestCrashLoopRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{MaxRestarts: 2, Backoff: 10 * time.Millisecond}})
	p := e.apply(t, "crashafter-v1.proc")
	eventually(t, 20*time.Second, "a rolled-back event", func() bool {
		return hasEvent(e.mgr, hotswap.EventRolledBack, p.ID, "giving up")
	})
	if got := e.s.greet.Load()("x"); got != "hello baseline, x" {
		t.Fatalf("after the rollback Greet = %q", got)
	}
	for _, ev := range e.mgr.History() {
		if ev.Type == hotswap.EventRolledBack && !strings.Contains(ev.Err.Error(), "crashing on purpose") &&
			!strings.Contains(ev.Err.Error(), "exit status 4") {
			t.Errorf("rollback reason lacks the cause: %v", ev.Err)
		}
	}
}

// TestNoRestartPolicy: MaxRestarts < 0 gives up at the first death.
func TestNoRestartPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{MaxRestarts: -1}})
	p := e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, 10*time.Second, "a rolled-back event", func() bool {
		return hasEvent(e.mgr, hotswap.EventRolledBack, p.ID, "")
	})
}

func slotFailures(m *hotswap.Manager, slot string) int64 {
	for _, s := range m.Status().Slots {
		if s.Name == slot {
			return s.Failures
		}
	}
	return -1
}
