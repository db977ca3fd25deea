//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// spawnChildren has the applied plugin start two sleepers that hold its
// standard error: one in its process group, one in a session of its own.
func spawnChildren(t *testing.T, e *env) (group, setsid int) {
	t.Helper()
	var err error
	if group, err = e.s.spawn.Load()("group"); err != nil {
		t.Fatal(err)
	}
	if setsid, err = e.s.spawn.Load()("setsid"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // whatever the test found, leave nothing behind
		syscall.Kill(group, syscall.SIGKILL)
		syscall.Kill(setsid, syscall.SIGKILL)
	})
	if !alive(group) || !alive(setsid) {
		t.Fatal("the children did not start")
	}
	return group, setsid
}

// within fails the test if f does not return within d: a hang detector.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s hangs (over %v)", what, d)
	}
}

// TestDescendantsDieOnRetire: a revert stops the plugin and everything it
// started, even what holds its stderr, and the retire does not wait for
// the pipes.
func TestDescendantsDieOnRetire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	group, setsid := spawnChildren(t, e)
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
	eventually(t, 10*time.Second, "the plugin and its children to die", func() bool {
		return !alive(pid) && !alive(group) && !alive(setsid)
	})
	for _, ev := range e.mgr.History() {
		if ev.Type == hotswap.EventRetired && ev.Err != nil {
			t.Errorf("retire failed: %v", ev.Err)
		}
	}
}

// TestDescendantsDieOnClose: Loader.Close stops the plugin and everything
// it started.
func TestDescendantsDieOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	group, setsid := spawnChildren(t, e)
	within(t, 30*time.Second, "Loader.Close", func() { e.l.Close(context.Background()) })
	eventually(t, 10*time.Second, "the plugin and its children to die", func() bool {
		return !alive(pid) && !alive(group) && !alive(setsid)
	})
}

// TestDescendantsDieOnCrash: when the plugin is killed, its process group
// goes with it, and a stranger holding its stderr (a child in a session of
// its own, which only the plugin itself could have found) does not keep
// the restart waiting.
func TestDescendantsDieOnCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
	e.apply(t, "greet-v1.proc")
	pid := e.s.pid.Load()()
	group, setsid := spawnChildren(t, e)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the child in the plugin's group to die", func() bool { return !alive(group) })
	eventually(t, 20*time.Second, "a restarted process", func() bool {
		var got int
		func() {
			defer func() { recover() }()
			got = e.s.pid.Load()()
		}()
		return got != 0 && got != pid
	})
	if !alive(setsid) {
		t.Log("the stranger died too")
	}
}

// TestLoadWithChildOnPipes: a file that leaves a child holding its
// standard streams and exits before the handshake is refused at once,
// with what happened, and the child is killed.
func TestLoadWithChildOnPipes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{StartTimeout: time.Minute})
	var err error
	within(t, 30*time.Second, "Load", func() {
		_, err = e.l.Load(context.Background(), e.mgr, fixtureAs(t, "forkexit.proc"))
	})
	var child int
	var se *StartError
	if errors.As(err, &se) {
		if i := strings.Index(se.Stderr, "child "); i >= 0 {
			fmt.Sscanf(se.Stderr[i:], "child %d", &child)
		}
	}
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "exited (exit status 0) before the handshake") || child == 0 {
		t.Fatalf("Load = %v", err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	eventually(t, 10*time.Second, "the child to die", func() bool { return !alive(child) })
}

// TestPlannedStopLogs: a stop the host asked for does not log as a
// failure, even when go-plugin has to kill the process.
func TestPlannedStopLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.apply(t, "slowexit-v1.proc")
	pid := e.s.pid.Load()()
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
	eventually(t, 10*time.Second, "the plugin to die", func() bool { return !alive(pid) })
	logs := e.logs.String()
	if !strings.Contains(logs, "killed, as it did not exit when asked") {
		t.Errorf("the forced stop is not logged:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") && strings.Contains(line, "go-plugin") {
			t.Errorf("a planned stop logged %q", line)
		}
	}
}
