package baseline_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
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
