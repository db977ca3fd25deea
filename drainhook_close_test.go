//go:build linux || darwin

package hotpatch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestDrainHookClosesRuntime: a drain hook of the baseline step that
// closes the runtime (an application that ties its teardown to the
// drain) must not wait for a Close that waits for that very hook. It
// hung for good, as Close from a manager's hook once did. (One upgrader
// per process: the check runs in a process of its own.)
func TestDrainHookClosesRuntime(t *testing.T) {
	if os.Getenv("HOTPATCH_DRAINHOOK_CHILD") == "" {
		for _, how := range []string{"runtime", "upgrader"} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang detector
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDrainHookClosesRuntime$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "HOTPATCH_DRAINHOOK_CHILD="+how)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("shut down by the %s: %v\n%s", how, err, out)
			}
		}
		return
	}
	rt, err := hotpatch.New(hotpatch.Options{StateDir: hotpatch.NoStateDir,
		Baseline: &baseline.Options{Binary: filepath.Join(t.TempDir(), "none"), NoSignal: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	up := rt.Upgrader()
	hooked := make(chan error, 1)
	up.OnDrain(func(context.Context) error {
		err := rt.Close(context.Background())
		hooked <- err
		return err
	})
	if err := up.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	hang, cancel := context.WithTimeout(ctx, time.Minute) // hang detector
	defer cancel()
	switch os.Getenv("HOTPATCH_DRAINHOOK_CHILD") {
	case "runtime":
		err = rt.Close(hang)
	default:
		err = up.Shutdown(hang)
		if err == nil {
			err = rt.Close(hang)
		}
	}
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-hooked:
		if err != nil {
			t.Errorf("Close in the drain hook: %v", err)
		}
	default:
		t.Error("the drain hook did not run")
	}
}
