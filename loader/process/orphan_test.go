//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
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
		l := New(Options{})
		p, err := l.Load(context.Background(), &reportSink{reg: reg}, os.Getenv("HOTPATCH_PROCESS_TEST_PLUGIN"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		pid := p.Impls["test.PID"].(func() int)()
		spawn := p.Impls["test.Spawn"].(func(string) (int, error))
		group, err1 := spawn("group")
		setsid, err2 := spawn("setsid")
		if err := errors.Join(err1, err2); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		fmt.Printf("child %d %d %d\n", pid, group, setsid)
		time.Sleep(time.Minute)
		return 0
	case "stockhost", "ownhost":
		// A host that loads a plugin (a stock go-plugin plugin through a
		// custom loader, or its own kind), says "ready" and waits to be
		// killed; it may be killed in the middle of the handshake.
		reg, _ := newTestRegistry()
		var l *Loader
		if mode == "stockhost" {
			l = NewCustom(stockCustom(), Options{StartTimeout: time.Minute})
		} else {
			l = New(Options{StartTimeout: time.Minute})
		}
		p, err := l.Load(context.Background(), &reportSink{reg: reg}, os.Getenv("HOTPATCH_PROCESS_TEST_PLUGIN"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		switch os.Getenv("HOTPATCH_PROCESS_TEST_PHASE") {
		case "midcall": // killed while a call hangs in the plugin
			go p.Impls["test.Hang"].(func(context.Context) error)(context.Background())
		case "retire": // killed while the retire waits for the plugin to exit
			go p.Retire(context.Background())
		}
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// TestNoOrphanWhenHostDies kills a host with SIGKILL and checks that its
// plugin process goes away with it, and so does everything the plugin
// started: a child in its process group and one in a session of its own.
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
	var pid, group, setsid int
	if _, err := fmt.Sscanf(line, "child %d %d %d", &pid, &group, &setsid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	t.Cleanup(func() {
		for _, p := range []int{pid, group, setsid} {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatalf("plugin %d is not running", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	eventually(t, 10*time.Second, fmt.Sprintf("plugin %d to die with its host", pid), func() bool { return !alive(pid) })
	eventually(t, 10*time.Second, "the plugin's children to die with it", func() bool { return !alive(group) && !alive(setsid) })
}
