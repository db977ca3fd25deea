package process

import (
	"context"
	"io"
	"os/exec"
	"testing"
)

// TestKillTwiceKeepsWhatTheFirstSaw: go-plugin kills the runner again
// after its own start timeout, once the loader's deadline had killed it
// already. By then the killed process's standard output has ended; the
// second Kill must not make the diagnosis say the plugin closed its
// standard output itself (a plain sleeper was reported as "closed its
// standard output without printing a handshake line").
func TestKillTwiceKeepsWhatTheFirstSaw(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	for i := range 40 {
		r, err := newProcRunner(exec.Command(sleep, "60"), func(start func() error) error { return start() }, sysAttr{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, r.stdout)
		}()
		if err := r.Kill(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-drained // the kill ended its standard output
		if err := r.Kill(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := r.Wait(context.Background()); err == nil {
			t.Fatal("a killed sleeper exited with status 0")
		}
		<-r.done
		if !r.wasForced() {
			t.Fatalf("run %d: the first Kill killed a running process, but wasForced is false", i)
		}
		if r.stdoutEndedFirst() {
			t.Fatalf("run %d: stdoutEndedFirst after two Kills: the second Kill saw the output its own first Kill ended", i)
		}
	}
}
