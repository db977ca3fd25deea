//go:build linux

package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// fdCount is the number of open descriptors of this process.
func fdCount(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// dirEntries lists every path under dir.
func dirEntries(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestApplyRevertCycles applies and reverts a process patch many times:
// once every reverted version is retired, no process, descriptor,
// goroutine, socket or file under the loader's directories may be left.
//
// It does 20 cycles; set HOTPATCH_CYCLES (e.g. 100) for a longer run.
func TestApplyRevertCycles(t *testing.T) {
	cycles := 20
	if s := os.Getenv("HOTPATCH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("HOTPATCH_CYCLES=%q: %v", s, err)
		}
		cycles = n
	}
	e := newEnv(t, Options{Grace: 10 * time.Second})
	// Warm up once: the loader's private directory and first-use state.
	p := e.apply(t, "greet-v0.proc")
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "warm-up version retired", func() bool { return e.l.versionOf(p.ID) == nil && len(children()) == 0 })
	fd0, g0 := fdCount(t), runtime.NumGoroutine()
	for i := 1; i <= cycles; i++ {
		p := e.apply(t, fmt.Sprintf("greet-v%d.proc", i))
		if got, want := e.s.greet.Load()("x"), fmt.Sprintf("hello v%d, x", i); got != want {
			t.Fatalf("cycle %d: Greet = %q, want %q", i, got, want)
		}
		if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
			t.Fatalf("cycle %d: revert: %v", i, err)
		}
		eventually(t, 30*time.Second, "reverted version retired", func() bool { return e.l.versionOf(p.ID) == nil && len(children()) == 0 })
	}
	var fd1, g1 int
	eventually(t, 30*time.Second, "descriptors and goroutines back", func() bool {
		fd1, g1 = fdCount(t), runtime.NumGoroutine()
		return fd1 <= fd0 && g1 <= g0
	})
	e.l.mu.Lock()
	dir, sock := e.l.dir, e.l.sockDir
	e.l.mu.Unlock()
	if left := append(dirEntries(dir), dirEntries(sock)...); len(left) > 0 {
		t.Errorf("files left under the loader's directories: %v", left)
	}
	t.Logf("%d cycles: fds %d -> %d, goroutines %d -> %d", cycles, fd0, fd1, g0, g1)
}
