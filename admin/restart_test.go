//go:build linux

package admin_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hotpatch-go/hotpatch/admin/api"
)

// TestRestartOverTheAPI: a restart over the API answers once a new
// process is ready; that process serves the same socket (inherited) and
// has applied again what was pushed; the old one exits cleanly. The new
// process is re-parented to the test (a subreaper), which waits for it.
// The 409 of a restart under way is TestRestart's.
func TestRestartOverTheAPI(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skip("no subreaper:", err)
	}
	d := shortDir(t)
	trust := filepath.Join(d, "ops.pub")
	writeTrust(t, trust)
	sock := filepath.Join(d, "s")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(serverBin, "-socket", sock, "-state", filepath.Join(d, "state"), "-trust", trust, "-baseline")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var pids []int
	var mu sync.Mutex // guards pids
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	ready := func() int {
		t.Helper()
		select {
		case l := <-lines:
			pid, err := strconv.Atoi(strings.TrimPrefix(l, "ready pid="))
			if err != nil {
				t.Fatalf("server said %q", l)
			}
			mu.Lock()
			pids = append(pids, pid)
			mu.Unlock()
			return pid
		case <-time.After(hang):
			t.Fatal("server not ready")
		}
		return 0
	}
	first := ready()
	c := unixClient(sock)
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathRestart, nil, nil); code != 200 {
		t.Fatalf("restart: %d %s", code, msg)
	}
	second := ready()
	if err := cmd.Wait(); err != nil {
		t.Errorf("the first process: %v", err)
	}
	var st api.Status
	if code, msg := call(t, unixClient(sock), "http://admin", "GET", api.PathStatus, nil, &st); code != 200 {
		t.Fatalf("status: %d %s", code, msg)
	}
	if st.PID != second || second == first || len(st.Stack) != 1 || st.Stack[0].ID != "greet@1" {
		t.Fatalf("after the restart (pids %d, %d): %+v", first, second, st)
	}
	if err := syscall.Kill(second, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(second, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("the second process: %v, %v", err, ws)
	}
	mu.Lock()
	pids = nil
	mu.Unlock()
}
