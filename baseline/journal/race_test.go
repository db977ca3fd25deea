package journal_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestConcurrentChanges applies and reverts from several goroutines while
// the journal follows (far more events than its subscription buffers, so
// it also rebuilds from the stack when it falls behind), then restarts:
// the stack the journal applies again is the one the manager ended with.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	const workers, rounds = 4, 300
	paths := make([][]string, workers)
	for w := range workers {
		for i := range 3 {
			paths[w] = append(paths[w], writeFile(t, src, fmt.Sprintf("w%d-%d.txt", w, i), fmt.Sprintf("%d/%d", w, i)))
		}
	}
	l := s.m.Loaders()[0]
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for r := range rounds {
				p, err := s.m.Load(ctx, l, paths[w][r%3])
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.m.Apply(ctx, p); err != nil {
					continue // applied already: revert it instead
				}
				if r%2 == 0 {
					if err := s.m.Revert(ctx, p.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	// Callers of Sync and Known meanwhile.
	wg.Go(func() {
		for range 50 {
			if err := s.j.Sync(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	s.sync(t)
	want := s.stack()
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, want) {
		t.Fatalf("after restart: stack %v, want %v", got, want)
	}
}
