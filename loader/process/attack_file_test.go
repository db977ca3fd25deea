//go:build linux

package process

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSourceDeletedThenCrash: the file a patch was loaded from is deleted
// (or replaced by junk) while the plugin runs; when the plugin is killed,
// the restart runs the loaded bytes and the slot keeps serving.
func TestSourceDeletedThenCrash(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"deleted", "replaced"} {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
			path := fixtureAs(t, "greet-v1.proc")
			e.applyPath(t, path)
			want := e.s.greet.Load()("x")
			pid := e.s.pid.Load()()
			if what == "deleted" {
				os.Remove(path)
			} else if err := os.WriteFile(path+".tmp", []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil || os.Rename(path+".tmp", path) != nil {
				t.Fatal("replace failed")
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "a restarted process", func() bool {
				got := 0
				func() {
					defer func() { recover() }()
					got = e.s.pid.Load()()
				}()
				return got != 0 && got != pid
			})
			if got := e.s.greet.Load()("x"); got != want {
				t.Errorf("after the restart greet = %q, want %q (pid was %s)", got, want, strconv.Itoa(pid))
			}
		})
	}
}
