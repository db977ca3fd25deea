package hotswap_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestConcurrentCallsDuringSwaps hammers two slots from 8 goroutines while
// 10,000 applies and reverts run, and checks that every call is served by a
// version that was current at some moment, that Status never shows a
// two-slot patch half applied, and that every patch is retired exactly once.
func TestConcurrentCallsDuringSwaps(t *testing.T) {
	t.Parallel()
	const ops = 10_000
	reg := registry.New()
	a := registry.MustRegister(reg, "race.A", func() int { return 0 })
	b := registry.MustRegister(reg, "race.B", func() int { return 0 })
	m := mustNew(t, reg, hotswap.Options{HistorySize: 64})

	var (
		applied atomic.Int64 // highest patch number applied so far
		retires sync.Map     // patch ID -> *atomic.Int32
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		bad     atomic.Value // first violation seen by a reader
	)
	fail := func(format string, args ...any) { bad.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }

	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				hi := applied.Load()
				va, vb := a.Load()(), b.Load()()
				// Patch n serves n on A and -n on B; 0 is the baseline.
				if va < 0 || int64(va) > applied.Load() || vb > 0 || int64(-vb) > applied.Load() {
					fail("served A=%d B=%d, but the highest applied patch is %d", va, vb, hi)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st := m.Status()
			if len(st.Slots) == 2 && st.Slots[0].PatchID != st.Slots[1].PatchID {
				fail("status shows a patch half applied: A=%q B=%q", st.Slots[0].PatchID, st.Slots[1].PatchID)
			}
		}
	}()

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var model []int // applied patch numbers, bottom first
	next := 0
	for op := 0; op < ops; op++ {
		if len(model) == 0 || (len(model) < 20 && rng.IntN(2) == 0) {
			next++
			n := next
			id := fmt.Sprint("p", n)
			cnt := new(atomic.Int32)
			retires.Store(id, cnt)
			applied.Store(int64(n))
			_, err := m.Apply(ctx, hotswap.Patch{ID: id, Impls: map[string]any{
				"race.A": func() int { return n },
				"race.B": func() int { return -n },
			}, Retire: func(context.Context) error { cnt.Add(1); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			model = append(model, n)
		} else {
			i := rng.IntN(len(model))
			if err := m.Revert(ctx, fmt.Sprint("p", model[i])); err != nil {
				t.Fatal(err)
			}
			model = append(model[:i], model[i+1:]...)
		}
		want := 0
		if len(model) > 0 {
			want = model[len(model)-1]
		}
		if got := a.Load()(); got != want {
			t.Fatalf("op %d: A serves %d, model says %d", op, got, want)
		}
	}
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	m.Close(context.Background())
	retires.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("patch %v retired %d times, want 1", k, n)
		}
		return true
	})
	if a.Load()() != 0 || b.Load()() != 0 {
		t.Fatal("slots not at baseline after Close")
	}
}

// TestConcurrentWriters runs Apply, Revert and Status from many goroutines;
// the race detector and the final state check the serialization.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	a := registry.MustRegister(reg, "race.A", func() int { return 0 })
	m := mustNew(t, reg, hotswap.Options{})
	defer m.Close(context.Background())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("g%d-%d", g, i)
				if _, err := m.Apply(context.Background(), hotswap.Patch{ID: id, Impls: map[string]any{"race.A": func() int { return 1 }}}); err != nil {
					t.Error(err)
					return
				}
				m.Status()
				if err := m.Revert(context.Background(), id); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := m.Status(); len(st.Stack) != 0 || a.Load()() != 0 || st.Generation != 8*200*2 {
		t.Fatalf("final status: stack %d, gen %d, serving %d", len(st.Stack), st.Generation, a.Load()())
	}
}
