//go:build linux

package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperMain runs the test binary as a helper process.
func helperMain(mode string) int {
	switch mode {
	case "host":
		// A host that loads a plugin, prints its pid and waits to be killed.
		reg, _ := newTestRegistry()
		l := New(reg, Options{})
		p, err := l.Load(context.Background(), os.Getenv("HOTPATCH_PROCESS_TEST_PLUGIN"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		pid := p.Impls["test.PID"].(func() int)()
		fmt.Printf("child %d\n", pid)
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// TestNoOrphanWhenHostDies kills a host with SIGKILL and checks that its
// plugin process goes away with it.
func TestNoOrphanWhenHostDies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signal is Linux only; elsewhere the plugin polls its parent")
	}
	t.Parallel()
	plugin := fixtureAs(t, "greet-orphan.proc")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=host", "HOTPATCH_PROCESS_TEST_PLUGIN="+plugin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading the helper's output: %v", err)
	}
	line := strings.TrimSpace(string(buf[:n]))
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "child "))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("plugin %d is not running", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	eventually(t, 5*time.Second, fmt.Sprintf("plugin %d to die with its host", pid), func() bool { return !alive(pid) })
}
