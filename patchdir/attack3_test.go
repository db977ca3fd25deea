package patchdir_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// ctxWaitLoader's loads wait for their context to end, then return.
type ctxWaitLoader struct {
	wordLoader
	entered chan struct{}
}

func (l *ctxWaitLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	l.entered <- struct{}{}
	<-ctx.Done()
	return hotswap.Patch{}, ctx.Err()
}

// TestAttack3HugeLoadTimeout: a LoadTimeout meant as "no bound"
// (math.MaxInt64) must not overflow Close's bound on the work in
// progress into a negative one: Close then returned at once, with an
// error, while a load was still running.
func TestAttack3HugeLoadTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	l := &ctxWaitLoader{entered: make(chan struct{}, 1)}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, LoadTimeout: math.MaxInt64}, l)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, dir, "greet.word", "one")
	<-l.entered
	within(t, "Close", func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close with a load that ends when told: %v", err)
		}
	})
}
