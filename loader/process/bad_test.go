//go:build linux

package process

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestBadInput loads files that must be refused while v1 serves: each is
// refused with a useful error, v1 keeps serving, and no process is left.
func TestBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   func(t *testing.T) string
		is     []error  // the error must match all of these
		says   []string // and contain these
		stderr string   // and hold this from the process's stderr
	}{
		{
			name: "not executable",
			file: func(t *testing.T) string {
				p := fixtureAs(t, "greet-noexec.proc")
				cp := filepath.Join(t.TempDir(), "noexec.proc")
				data, _ := os.ReadFile(p)
				os.WriteFile(cp, data, 0o644)
				return cp
			},
			is:   []error{ErrNotExecutable},
			says: []string{"no execute permission"},
		},
		{
			name: "directory",
			file: func(t *testing.T) string { return t.TempDir() },
			is:   []error{ErrNotExecutable},
		},
		{
			name: "missing",
			file: func(t *testing.T) string { return filepath.Join(t.TempDir(), "gone.proc") },
			is:   []error{os.ErrNotExist},
		},
		{
			name: "random bytes",
			file: func(t *testing.T) string {
				b := make([]byte, 4096)
				rand.Read(b)
				b[0] = 'X' // never "#!" or ELF
				return writeExec(t, "random.proc", b)
			},
			is:   []error{ErrStart},
			says: []string{"exec format error"},
		},
		{
			name: "empty file",
			file: func(t *testing.T) string { return writeExec(t, "empty.proc", nil) },
			is:   []error{ErrStart},
		},
		{
			name: "shebang script",
			file: func(t *testing.T) string {
				return writeExec(t, "script.proc", []byte("#!/bin/sh\necho 'I am a script' >&2\necho not-a-handshake\nsleep 30\n"))
			},
			is:     []error{ErrStart},
			says:   []string{"not-a-handshake"},
			stderr: "I am a script",
		},
		{
			name:   "exits at once",
			file:   func(t *testing.T) string { return fixtureAs(t, "exit.proc") },
			is:     []error{ErrStart},
			says:   []string{"exit status 3"},
			stderr: "fixture: exiting at once",
		},
		{
			name:   "never completes the handshake",
			file:   func(t *testing.T) string { return fixtureAs(t, "nohandshake.proc") },
			is:     []error{ErrStart},
			says:   []string{"no handshake within 2s"},
			stderr: "never shaking hands",
		},
		{
			name:   "wrong cookie",
			file:   func(t *testing.T) string { return fixtureAs(t, "badcookie.proc") },
			is:     []error{ErrStart},
			stderr: "This binary is a plugin",
		},
		{
			name: "wrong protocol version",
			file: func(t *testing.T) string { return fixtureAs(t, "badversion.proc") },
			is:   []error{ErrStart},
			says: []string{"incompatible API version"},
		},
		{
			name: "slot missing in the host",
			file: func(t *testing.T) string { return fixtureAs(t, "extra.proc") },
			is:   []error{ErrStart, hotswap.ErrUnknownSlot},
			says: []string{"test.NotInHost"},
		},
		{
			name: "type mismatch",
			file: func(t *testing.T) string { return fixtureAs(t, "mismatch.proc") },
			is:   []error{ErrStart, hotswap.ErrTypeMismatch},
			says: []string{"func(string) (string, error)", "func(string) string"},
		},
		{
			name:   "unsupported type in the plugin",
			file:   func(t *testing.T) string { return fixtureAs(t, "unsupported.proc") },
			is:     []error{ErrStart},
			stderr: "channel",
		},
		{
			name: "garbage on stdout before the handshake",
			file: func(t *testing.T) string { return fixtureAs(t, "garbage.proc") },
			is:   []error{ErrStart},
			says: []string{"this is not a handshake line"},
		},
	}
	e := newEnv(t, Options{StartTimeout: 2 * time.Second})
	e.apply(t, "greet-v1.proc")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.l.Load(context.Background(), e.mgr, tt.file(t))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error does not match %v: %v", target, err)
				}
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q: %v", s, err)
				}
			}
			if tt.stderr != "" {
				var se *StartError
				if !errors.As(err, &se) || !strings.Contains(se.Stderr, tt.stderr) || !strings.Contains(err.Error(), tt.stderr) {
					t.Errorf("error lacks the process's stderr %q: %v", tt.stderr, err)
				}
			}
			if got := e.s.greet.Load()("x"); got != "hello v1, x" {
				t.Errorf("v1 stopped serving: %q", got)
			}
		})
	}
	t.Cleanup(func() {
		// Other tests have processes too; none may be a refused one.
		for _, pid := range children() {
			cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			for _, name := range []string{"nohandshake", "script.proc", "badcookie", "badversion", "garbage", "extra", "mismatch"} {
				if strings.Contains(string(cmd), name) {
					t.Errorf("refused plugin still running: %d %s", pid, cmd)
				}
			}
		}
	})
}

func writeExec(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStartTimeoutRespectsContext ends a Load early with its context.
func TestStartTimeoutRespectsContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{StartTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.l.Load(ctx, e.mgr, fixtureAs(t, "nohandshake.proc"))
	if !errors.Is(err, ErrStart) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Load took %v with a 300ms context", d)
	}
}
