//go:build linux

package process

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestSwapDrainsOldProcess replaces v1 by v2 while a slow call runs on v1:
// new calls go to v2 at once, the slow call finishes on v1, and v1's process
// stops afterwards.
func TestSwapDrainsOldProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p1 := e.apply(t, "greet-v1.proc")
	pid1 := e.s.pid.Load()()

	slow := make(chan string, 1)
	go func() { slow <- e.s.slow.Load()(500 * time.Millisecond) }()
	waitStarted(t, e, "test.Slow", pid1)

	p2, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-v2.proc"))
	if err != nil {
		t.Fatal(err)
	}
	p2.Replaces = p1.ID
	if _, err := e.mgr.Apply(context.Background(), p2); err != nil {
		t.Fatal(err)
	}
	if got := e.s.greet.Load()("x"); got != "hello v2, x" {
		t.Fatalf("after the swap Greet = %q", got)
	}
	if !alive(pid1) {
		t.Fatal("v1 stopped before its call in flight finished")
	}
	if got := <-slow; got != "v1" {
		t.Fatalf("the call in flight answered %q, want v1", got)
	}
	eventually(t, 10*time.Second, "v1's process to stop", func() bool { return !alive(pid1) })
	eventually(t, 5*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p1.ID, "") })
}

// TestRetireGrace reverts a patch while a call hangs in it: the process is
// stopped after the grace period, the call fails, and the retire event says
// why.
func TestRetireGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Grace: 200 * time.Millisecond})
	p := e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	errc := make(chan error, 1)
	go func() { errc <- e.s.hang.Load()(context.Background()) }()
	waitStarted(t, e, "test.Hang", pid)
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.s.greet.Load()("x"); got != "hello baseline, x" {
		t.Fatalf("after revert Greet = %q", got)
	}
	select {
	case err := <-errc:
		var ce *CallError
		if !errors.As(err, &ce) || !(errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProcessExited)) {
			t.Fatalf("the hung call returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hung call did not end after the grace period")
	}
	eventually(t, 5*time.Second, "the process to stop", func() bool { return !alive(pid) })
	eventually(t, 5*time.Second, "a retired event with an error", func() bool {
		return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "still in flight")
	})
}

// TestLateCallerFallsBack calls an adapter of a patch that was reverted
// after the caller loaded it: the slot's current implementation serves it.
func TestLateCallerFallsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.apply(t, "greet-v1.proc")
	stale := e.s.greet.Load()
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "retire", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
	if got := stale("late"); got != "hello baseline, late" {
		t.Fatalf("late call = %q, want the baseline's answer", got)
	}
}

// TestRefusedPatchIsReleased: a patch the manager refuses is released by
// its Retire hook (what the watch glue does): its process stops.
func TestRefusedPatchIsReleased(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-v1.proc"))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Impls["test.PID"].(func() int)()
	p.Replaces = "no-such-patch"
	if _, err := e.mgr.Apply(context.Background(), p); !errors.Is(err, hotswap.ErrUnknownPatch) {
		t.Fatalf("Apply = %v", err)
	}
	if err := p.Retire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatal("the refused patch's process outlived Retire")
	}
	if err := p.Retire(context.Background()); err != nil {
		t.Fatalf("second Retire: %v", err)
	}
}

// TestCloseStopsEverything closes the loader with applied and unapplied
// patches: no process is left.
func TestCloseStopsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	pid1 := e.s.pid.Load()()
	p2, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-v2.proc"))
	if err != nil {
		t.Fatal(err)
	}
	pid2 := p2.Impls["test.PID"].(func() int)()
	if err := e.l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid1) || alive(pid2) {
		t.Fatal("a process outlived Close")
	}
	if _, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-v3.proc")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close = %v", err)
	}
	var ce *CallError
	func() {
		defer func() { ce, _ = recover().(*CallError) }()
		e.s.greet.Load()("x")
	}()
	if ce == nil || !errors.Is(ce, ErrUnavailable) {
		t.Fatalf("call after Close: %v", ce)
	}
}

// TestManyInFlight runs many concurrent calls on one process.
func TestManyInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Conns: 1})
	e.apply(t, "greet-v1.proc")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := e.s.sleep.Load()(ctx, time.Duration(i%10)*time.Millisecond)
			if err != nil || got != "slept v1" {
				errs <- errors.Join(err, errors.New(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// hasEvent reports whether the manager recorded an event of type typ for
// patch id whose error contains errText ("" matches any).
func hasEvent(m *hotswap.Manager, typ hotswap.EventType, id, errText string) bool {
	for _, ev := range m.History() {
		if ev.Type != typ || ev.PatchID != id {
			continue
		}
		if errText == "" || (ev.Err != nil && strings.Contains(ev.Err.Error(), errText)) {
			return true
		}
	}
	return false
}
