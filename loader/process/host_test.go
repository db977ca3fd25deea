//go:build linux

package process

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestRestartRecorded: a process that dies is restarted, and the restart is
// recorded through the host as a restarted event naming the patch and the
// cause; the crash counts one failure.
func TestRestartRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
	p := e.apply(t, "greet-v1.proc")
	if err := syscall.Kill(e.s.pid.Load()(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a restarted event", func() bool {
		return hasEvent(e.mgr, hotswap.EventRestarted, p.ID, "")
	})
	for _, ev := range e.mgr.History() {
		if ev.Type == hotswap.EventRestarted && (!errors.Is(ev.Err, ErrProcessExited) || ev.Kind != hotswap.KindProcess) {
			t.Fatalf("restarted event = %v, want the process kind and ErrProcessExited", ev)
		}
	}
	if n := slotFailures(e.mgr, "test.Canceled"); n != 1 { // a crash is reported once, on the first slot
		t.Fatalf("a crash counted %d failures, want 1", n)
	}
}

// TestHostErrors: the loader's errors match the host contract's: a
// closed loader's refusal is hotswap.ErrClosed.
func TestHostErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	if err := e.l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Load(t.Context(), e.mgr, fixtureAs(t, "greet-v1.proc")); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Load after Close = %v, want hotswap.ErrClosed", err)
	}
}
