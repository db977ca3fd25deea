package native_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
)

// TestRefusePanickingInitTwoLoaders loads a build whose init panics with
// two loaders of one process: both refuse it with the panic. The loaders
// share the private copy's path (by design: Go's plugin cache then hands
// the second loader what the first opened), and Go's cache keeps a plugin
// whose init panicked as "loading" for good, so a second plugin.Open of
// that path would wait forever, holding the second loader's lock.
func TestRefusePanickingInitTwoLoaders(t *testing.T) {
	if !inChild(t) {
		return
	}
	first := newEnv(t, native.Options{})
	second := newEnv(t, native.Options{})
	for i, e := range []*env{first, second, first} {
		done := make(chan error, 1)
		go func() {
			_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "panicinit.so"))
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute): // a hang detector
			t.Fatalf("load %d of a build whose init panicked hangs", i+1)
		}
		var pe *hotswap.PanicError
		if !errors.As(err, &pe) || !errors.Is(err, native.ErrOpen) || pe.Value != "patch init fails" {
			t.Fatalf("load %d: err = %v, want ErrOpen with the panic", i+1, err)
		}
	}
	// The second loader still works.
	second.apply(t, second.load(t, fixture(t, "v1.so")))
	if got := second.slots.Greet.Load()("x"); got != "v1, x" {
		t.Fatalf("after the refusals, a good patch serves %q", got)
	}
}
