//go:build linux

package process

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHostKilledInPhases kills a host with SIGKILL while its plugin is in
// the middle of the handshake and once it is loaded, for a stock go-plugin
// plugin and for the host's own kind: the plugin process goes with the
// host every time (found by a token in its command line).
func TestHostKilledInPhases(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, mode, behaviour, phase string
		ready                        bool // wait for the load to finish
	}{
		{"stock_handshake", "stockhost", "silentspin", "", false},
		{"stock_loaded", "stockhost", "plain", "", true},
		{"own_handshake", "ownhost", "nohandshake", "", false},
		{"own_midcall", "ownhost", "greet", "midcall", true},
		{"own_retire", "ownhost", "slowexit", "retire", true},
		// The plugin started a child and was killed before it called Serve.
		{"own_init", "ownhost", "initspawn", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var path, token string
			if c.mode == "stockhost" {
				path, token = stockAs(t, "rpc", c.behaviour)
			} else {
				token = fmt.Sprintf("k%dx%d", os.Getpid(), stockTokens.Add(1))
				path = filepath.Join(t.TempDir(), c.behaviour+"-"+token+".proc")
				if err := os.Link(fixtureBin, path); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					for _, pid := range marked(token) {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				})
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envHelper+"="+c.mode, "HOTPATCH_PROCESS_TEST_PLUGIN="+path, "HOTPATCH_PROCESS_TEST_PHASE="+c.phase)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			if c.ready {
				line, err := bufio.NewReader(out).ReadString('\n')
				if line != "ready\n" {
					t.Fatalf("helper said %q (%v)", line, err)
				}
			}
			want := 1
			if c.behaviour == "initspawn" {
				want = 2 // and its child
			}
			eventually(t, 20*time.Second, "the plugin to start", func() bool { return len(marked(token)) >= want })
			pids := marked(token)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			eventually(t, 10*time.Second, fmt.Sprintf("plugin %v to die with its host", pids), func() bool { return len(marked(token)) == 0 })
		})
	}
}
