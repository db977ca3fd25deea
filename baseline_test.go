//go:build linux || darwin

package hotpatch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// TestBaselineOption: Options.Baseline gives the runtime an upgrader whose
// events go to the manager's history, and Close shuts it down. (One
// upgrader per process: this is the package's only one.)
func TestBaselineOption(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	patches := filepath.Join(t.TempDir(), "patches")
	if err := os.Mkdir(patches, 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := hotpatch.New(hotpatch.Options{Dir: patches, StateDir: filepath.Join(t.TempDir(), "state"),
		Watch:    patchdir.Options{Debounce: 10 * time.Millisecond},
		Baseline: &baseline.Options{Binary: missing, NoSignal: true}})
	if errors.Is(err, baseline.ErrSecondUpgrader) {
		t.Skip("one upgrader per process: a second run (-count) cannot make another")
	}
	if err != nil {
		t.Fatal(err)
	}
	up := rt.Upgrader()
	if up == nil {
		t.Fatal("no upgrader with Options.Baseline set")
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := up.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	err = up.Restart(ctx)
	var re *baseline.RestartError
	if !errors.As(err, &re) || !errors.Is(err, baseline.ErrBinary) || re.Binary != missing {
		t.Fatalf("restart into a missing binary: %v, want a RestartError for %s", err, missing)
	}
	var found bool
	for _, e := range rt.Manager().History() {
		if e.Type == baseline.EventFailed && e.Err != nil && strings.Contains(e.Err.Error(), missing) {
			found = true
		}
	}
	if !found {
		t.Errorf("no %s event in the manager's history: %v", baseline.EventFailed, rt.Manager().History())
	}
	// Once the process hands over (or stops), the new process owns the
	// state directory: this one's journal stops writing, or a patch it
	// applies while it drains would put back its stale record over the
	// new baseline's.
	if err := up.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; runtime.Gosched() {
		err := rt.Journal().Sync(ctx)
		if errors.Is(err, journal.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal after the hand-over: Sync %v, want it closed", err)
		}
	}
	// Nor does it take new patches: the new process does. (A bounded
	// look, 50 debounce periods: nothing is to happen.)
	greet := hotpatch.MustRegister(rt, "t.Late", func() int { return 1 })
	if err := os.WriteFile(filepath.Join(patches, "late.go"), []byte("package patch\n\n//hotpatch:slot t.Late\nfunc F() int { return 2 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := greet.Load()(); got != 1 {
		t.Errorf("the process that handed over applied a new patch file (t.Late = %d)", got)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := up.Restart(ctx); !errors.Is(err, baseline.ErrStopped) {
		t.Errorf("restart after Close: %v, want ErrStopped", err)
	}
	// A second runtime with a baseline step in this process is refused,
	// saying why, and leaves nothing open.
	if _, err := hotpatch.New(hotpatch.Options{StateDir: filepath.Join(t.TempDir(), "state2"),
		Baseline: &baseline.Options{Binary: missing, NoSignal: true}}); !errors.Is(err, baseline.ErrSecondUpgrader) {
		t.Errorf("a second upgrader in the process: %v, want ErrSecondUpgrader", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("the listener still accepts after Close")
	}
}
