//go:build linux

package baseline_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestTermDuringCheck: SIGTERM to the new process while its readiness
// check runs. The check then passes, but the process was told to stop:
// it must not report ready, or the old process hands over and drains
// while the new one shuts down, and nothing serves. The restart fails,
// the old process keeps serving, and a later restart works.
func TestTermDuringCheck(t *testing.T) {
	tr := startTree(t, bins.v1)
	first := tr.cur
	tr.switchTo(bins.termcheck)
	res := make(chan string, 1)
	go func() {
		body, _ := tr.get("/restart")
		res <- body
	}()
	child := field(t, tr.waitFor("checking "), "pid")
	if err := syscall.Kill(child, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if body := <-res; !strings.Contains(body, "the old process keeps serving") {
		t.Errorf("restart whose new process got SIGTERM in its check: %q, want it failed", body)
	}
	if body, err := tr.get("/version"); err != nil || body != "v1 "+strconv.Itoa(first) {
		t.Errorf("after the failed restart: %q, %v; want the old process", body, err)
	}
	tr.switchTo(bins.v2)
	tr.restart(true, "v2")
	tr.stop()
}

// TestStopRemovesSocket: a plain stop removes the unix socket's file
// before the process exits, every time (tableflip removes it on its own
// goroutine after Stop; Shutdown must wait for it).
func TestStopRemovesSocket(t *testing.T) {
	for range 20 {
		startTree(t, bins.v1).stop()
	}
}

// TestOtherProgramErrors: a new binary that is another program (it exits
// at once, status 0, having reported nothing) and one that is gone (as a
// `go run` binary is once the first process exited): each error says
// what happened and what to do, and the old process keeps serving.
func TestOtherProgramErrors(t *testing.T) {
	tr := startTree(t, bins.v1)
	first := tr.cur
	other := filepath.Join(t.TempDir(), "true.sh")
	if err := os.WriteFile(other, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bin  string
		want []string
	}{
		{other, []string{"exited", "before it reported ready", "package baseline"}},
		{filepath.Join(t.TempDir(), "gone"), []string{"no such file", "removed", "go run", "hotpatch build -versioned"}},
	} {
		tr.switchTo(c.bin)
		body, err := tr.get("/restart")
		if err == nil {
			t.Fatalf("restart into %s: %q, want an error", c.bin, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("restart into %s: error %q lacks %q", c.bin, body, w)
			}
		}
		if body, err := tr.get("/version"); err != nil || body != "v1 "+strconv.Itoa(first) {
			t.Errorf("after the failed restart into %s: %q, %v; want the old process", c.bin, body, err)
		}
	}
	tr.switchTo(bins.v2)
	tr.restart(false, "v2")
	tr.stop()
}

// TestRestartErrorNamesTarget: the error names the file a switched link
// pointed at, which is what the user got wrong.
func TestRestartErrorNamesTarget(t *testing.T) {
	e := &baseline.RestartError{Binary: "/srv/app", Target: "app-1234", Err: errors.New("child pid=7 exited")}
	if !strings.Contains(e.Error(), "/srv/app (-> app-1234) failed") {
		t.Errorf("%q does not name the link's target", e.Error())
	}
}

// TestOldKilledDuringStartUp: kill -9 of the old process while the new
// one runs its check. The new process holds the listeners and passes its
// check: it must serve, not exit because nobody reads its report.
func TestOldKilledDuringStartUp(t *testing.T) {
	tr := startTree(t, bins.v1)
	old := tr.cur
	tr.switchTo(bins.usr1check)
	if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	child := field(t, tr.waitFor("checking "), "pid")
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := tr.first.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("old process: %v, want killed", err)
	}
	if err := syscall.Kill(child, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	l := tr.waitFor("ready ")
	if got := field(t, l, "pid"); got != child {
		t.Fatalf("ready: %q, want pid %d", l, child)
	}
	tr.cur = child
	if body, err := tr.get("/version"); err != nil || body != "v1 "+strconv.Itoa(child) {
		t.Errorf("after the old process was killed: %q, %v; want the new process", body, err)
	}
	tr.switchTo(bins.v2)
	tr.restart(true, "v2")
	tr.stop()
}
