//go:build linux

package process

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestFrozenPluginClose: Loader.Close is bounded when the plugin is
// frozen (SIGSTOP: it holds its connections and answers nothing), for a
// stock go-plugin plugin of each protocol and for the host's own kind.
func TestFrozenPluginClose(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"rpc", "grpc", "own"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var e *env
			if kind == "own" {
				e = newEnv(t, Options{})
				e.apply(t, "greet-v1.proc")
			} else {
				e = newStockEnv(t, Options{})
				path, _ := stockAs(t, kind, "plain")
				e.applyPath(t, path)
			}
			e.s.greet.Load()("x")
			var pid int
			e.l.mu.Lock()
			for v := range e.l.versions {
				if in := v.cur.Load(); in != nil {
					pid, _ = strconv.Atoi(in.pid())
				}
			}
			e.l.mu.Unlock()
			if pid == 0 {
				t.Fatal("no plugin pid")
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			within(t, 20*time.Second, "Loader.Close", func() { e.l.Close(t.Context()) })
			eventually(t, 10*time.Second, "the plugin to die", func() bool { return !alive(pid) })
		})
	}
}
