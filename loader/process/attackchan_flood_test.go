package process

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/registry"
)

// TestChanFlood: 1000 callers at once on two connections to a plugin that
// answers slowly, half of them giving up early: every call ends with its
// answer or its own deadline, nothing is reported, and the connections
// keep serving.
func TestChanFlood(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.Slow", func(context.Context, int) (int, error) { return 0, nil })
	gate := make(chan struct{})
	e := servePlugin(t, reg, map[string]any{
		"t.Slow": func(ctx context.Context, n int) (int, error) {
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return n * 2, nil
		},
	}, 2)
	slow := e.impls["t.Slow"].(func(context.Context, int) (int, error))
	var wg sync.WaitGroup
	errs := make([]error, 1000)
	for i := range errs {
		wg.Go(func() {
			ctx := context.Background()
			if i%2 == 1 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Millisecond)
				defer cancel()
			}
			got, err := slow(ctx, i)
			if err == nil && got != 2*i {
				err = errors.New("wrong answer")
			}
			errs[i] = err
		})
	}
	// Let the ones with deadlines give up, then answer the rest.
	deadline := time.Now().Add(30 * time.Second) // a hang detector
	for {
		n := 0
		for _, cc := range e.in.conns {
			w, _ := cc.Pending()
			n += w
		}
		if n <= 500 || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i%2 == 1 && err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d: %v, want its deadline", i, err)
		}
	}
	if n := e.sink.count(); n != 0 {
		t.Fatalf("%d failures reported: %v", n, e.sink.reports)
	}
	if got, err := slow(context.Background(), 21); err != nil || got != 42 {
		t.Fatalf("after the flood: %d, %v", got, err)
	}
}
