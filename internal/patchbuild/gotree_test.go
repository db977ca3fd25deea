//go:build unix

package patchbuild

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCancelEndsTheTools: a cancelled go command ends with the tools it
// started. The stand-in for go catches the interrupt, as cmd/go does, and
// waits for its tool (a sleep), which the group's interrupt ends.
func TestCancelEndsTheTools(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "tool.pid")
	fakeGo := filepath.Join(dir, "go")
	// A handler, not an ignore: as with cmd/go, its children get the
	// default disposition.
	script := "#!/bin/sh\ntrap 'caught=1' INT\nsh -c 'echo $$ > " + pidFile + "; exec sleep 1000'\nexit 1\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &Plan{Options: Options{Go: fakeGo}, GoEnv: os.Environ()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.goOutput(ctx, dir, "build")
		done <- err
	}()
	var tool int
	for deadline := time.Now().Add(30 * time.Second); tool == 0; {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			tool, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in never started its tool")
		}
		time.Sleep(5 * time.Millisecond) // polling a file the script writes
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled build succeeded")
		}
	case <-time.After(2 * goCancelDelay):
		t.Fatal("the cancelled go command did not end")
	}
	// The tool got the interrupt with its group: gone (or a zombie about
	// to be reaped by init), not left running.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if syscall.Kill(tool, 0) != nil || zombie(tool) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tool pid %d still runs after the cancel", tool)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
