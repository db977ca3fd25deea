//go:build linux

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// The operator's tour (testdata/script/operator_tour.txtar) runs a real
// server: the admin package's test server (admin/testdata/server: one
// slot example.Greet, signed bundles trusted from $WORK/ops.pub, a state
// directory $WORK/state, the admin API on a socket, the baseline step
// on), built once, when a script first asks for it. The processes a
// restart starts are re-parented to the test binary (a subreaper), which
// waits for each.

var adminServer struct {
	once sync.Once
	bin  string
	err  error
	mu   sync.Mutex                            // guards runs
	runs map[*testscript.TestScript]*serverRun // the server each script runs
}

// serverRun is a script's server: its processes, one after a restart.
type serverRun struct {
	lines chan string // "ready pid=N" lines of its processes
	pids  []int       // the processes started, the serving one last
}

// scriptCmds are the commands the scripts may use besides hotpatch.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(*testscript.TestScript, bool, []string){"adminserver": adminServerCmd}
}

// adminServerCmd: "adminserver start" starts the test server, waits until
// it serves and sets HOTPATCH_ADDR; "adminserver restarted" waits for the
// process a restart started and for the old one to exit; "adminserver
// kill" kills the serving process (SIGKILL) and waits for it.
func adminServerCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: adminserver start|restarted|kill")
	}
	adminServer.mu.Lock()
	defer adminServer.mu.Unlock()
	if adminServer.runs == nil {
		adminServer.runs = map[*testscript.TestScript]*serverRun{}
	}
	run := adminServer.runs[ts]
	switch args[0] {
	case "start":
		if run != nil {
			ts.Fatalf("a server runs already")
		}
		adminServer.runs[ts] = startServer(ts)
	case "restarted":
		if run == nil {
			ts.Fatalf("no server runs")
		}
		old := run.pids[len(run.pids)-1]
		run.ready(ts)
		reap(ts, old)
	case "kill":
		if run == nil {
			ts.Fatalf("no server runs")
		}
		pid := run.pids[len(run.pids)-1]
		ts.Check(syscall.Kill(pid, syscall.SIGKILL))
		reap(ts, pid)
		run.pids = nil
		delete(adminServer.runs, ts)
	default:
		ts.Fatalf("usage: adminserver start|restarted|kill")
	}
}

func startServer(ts *testscript.TestScript) *serverRun {
	adminServer.once.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			adminServer.err = err
			return
		}
		dir, err := os.MkdirTemp("", "hotpatch-admin-server")
		if err != nil {
			adminServer.err = err
			return
		}
		adminServer.bin = filepath.Join(dir, "server")
		root, _ := filepath.Abs("../..")
		adminServer.err = testbuild.Build(filepath.Join(root, "admin", "testdata", "server"), adminServer.bin, ".")
	})
	ts.Check(adminServer.err)
	// A socket path must be short; $WORK may not be.
	sockDir, err := os.MkdirTemp("", "hps")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "admin.sock")
	r, w, err := os.Pipe()
	ts.Check(err)
	cmd := exec.Command(adminServer.bin, "-socket", sock, "-state", ts.MkAbs("state"), "-trust", ts.MkAbs("ops.pub"), "-baseline")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		ts.Fatalf("%v", err)
	}
	run := &serverRun{lines: make(chan string, 16), pids: []int{cmd.Process.Pid}}
	go func() {
		defer close(run.lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			run.lines <- sc.Text()
		}
	}()
	ts.Defer(func() {
		adminServer.mu.Lock()
		defer adminServer.mu.Unlock()
		for _, pid := range run.pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			reap(nil, pid)
		}
		for range run.lines { // until every process closed the pipe
		}
		delete(adminServer.runs, ts)
	})
	run.ready(ts)
	ts.Setenv("HOTPATCH_ADDR", "unix://"+sock)
	return run
}

// ready waits for a process's "ready pid=N" line and takes N as the
// serving process.
func (run *serverRun) ready(ts *testscript.TestScript) {
	select {
	case l, ok := <-run.lines:
		pid, err := strconv.Atoi(strings.TrimPrefix(l, "ready pid="))
		if !ok || err != nil {
			ts.Fatalf("server said %q", l)
		}
		if pid != run.pids[len(run.pids)-1] {
			run.pids = append(run.pids, pid)
		}
	case <-time.After(2 * time.Minute): // hang detector
		ts.Fatalf("server not ready")
	}
}

// reap waits for pid, a child or an orphan re-parented to this process.
func reap(ts *testscript.TestScript, pid int) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			if err != nil && ts != nil && err != syscall.ECHILD {
				ts.Fatalf("wait for %d: %v", pid, err)
			}
			return
		}
	}
}
