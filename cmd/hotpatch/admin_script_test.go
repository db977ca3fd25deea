package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"github.com/rogpeppe/go-internal/testscript"
)

// The operator's tour (testdata/script/operator_tour.txtar) runs a real
// server: the admin package's test server (admin/testdata/server: one
// slot example.Greet, signed bundles trusted from $WORK/ops.pub, a state
// directory $WORK/state, the admin API on a socket), built once, when a
// script first asks for it.

var adminServer struct {
	once sync.Once
	bin  string
	err  error
	mu   sync.Mutex                           // guards procs
	proc map[*testscript.TestScript]*exec.Cmd // the server each script runs
}

// scriptCmds are the commands the scripts may use besides hotpatch.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(*testscript.TestScript, bool, []string){"adminserver": adminServerCmd}
}

// adminServerCmd: "adminserver start" starts the test server, waits until
// it serves and sets HOTPATCH_ADDR; "adminserver kill" kills it (SIGKILL)
// and waits for it.
func adminServerCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: adminserver start|kill")
	}
	adminServer.mu.Lock()
	defer adminServer.mu.Unlock()
	if adminServer.proc == nil {
		adminServer.proc = map[*testscript.TestScript]*exec.Cmd{}
	}
	switch args[0] {
	case "kill":
		cmd := adminServer.proc[ts]
		if cmd == nil {
			ts.Fatalf("no server runs")
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		delete(adminServer.proc, ts)
	case "start":
		if adminServer.proc[ts] != nil {
			ts.Fatalf("a server runs already")
		}
		adminServer.once.Do(func() {
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
		cmd := exec.Command(adminServer.bin, "-socket", sock, "-state", ts.MkAbs("state"), "-trust", ts.MkAbs("ops.pub"))
		out, err := cmd.StdoutPipe()
		ts.Check(err)
		cmd.Stderr = os.Stderr
		ts.Check(cmd.Start())
		ts.Defer(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ready := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(out).ReadString('\n')
			ready <- l
		}()
		select {
		case l := <-ready:
			if strings.TrimSpace(l) != "ready" {
				ts.Fatalf("server said %q", l)
			}
		case <-time.After(2 * time.Minute): // hang detector
			ts.Fatalf("server not ready")
		}
		adminServer.proc[ts] = cmd
		ts.Setenv("HOTPATCH_ADDR", "unix://"+sock)
	default:
		ts.Fatalf("usage: adminserver start|kill")
	}
}
