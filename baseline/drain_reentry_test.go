//go:build linux || darwin

package baseline_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestShutdownFromDrainHook: a drain hook that calls Shutdown (to be sure
// the process stops, say) gets ErrInDrain at once; before, it waited for
// the Shutdown that waited for it. (One upgrader per process: the check
// runs in a process of its own.)
func TestShutdownFromDrainHook(t *testing.T) {
	if os.Getenv("HOTPATCH_DRAIN_REENTRY_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestShutdownFromDrainHook$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HOTPATCH_DRAIN_REENTRY_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	up, err := baseline.New(baseline.Options{NoSignal: true})
	if err != nil {
		t.Fatal(err)
	}
	inner := make(chan error, 1)
	up.OnDrain(func(ctx context.Context) error {
		inner <- up.Shutdown(context.Background())
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- up.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(time.Minute): // a hang detector
		t.Fatal("Shutdown waits for its own drain hook")
	}
	if err := <-inner; !errors.Is(err, baseline.ErrInDrain) {
		t.Errorf("Shutdown from the drain hook = %v, want ErrInDrain", err)
	}
	// Later calls from elsewhere still return the first call's result.
	if err := up.Shutdown(context.Background()); err != nil {
		t.Errorf("a later Shutdown = %v", err)
	}
}
