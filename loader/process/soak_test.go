//go:build linux

package process

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak swaps versions while 8 goroutines call continuously: no call
// may fail, and no process may be left. It does 20 swaps; set
// HOTPATCH_SOAK_SWAPS (e.g. 200) for a longer run.
func TestSoak(t *testing.T) {
	swaps := 20
	if s := os.Getenv("HOTPATCH_SOAK_SWAPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("HOTPATCH_SOAK_SWAPS=%q: %v", s, err)
		}
		swaps = n
	}
	if testing.Short() {
		swaps = min(swaps, 5)
	}
	e := newEnv(t, Options{Grace: 10 * time.Second})
	cur := e.apply(t, "greet-v0.proc")

	var calls, failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				func() {
					defer func() {
						if v := recover(); v != nil {
							fail(fmt.Errorf("panic: %v", v))
						}
					}()
					if g%2 == 0 {
						if got := e.s.greet.Load()("x"); !strings.HasPrefix(got, "hello v") {
							fail(fmt.Errorf("Greet = %q", got))
						}
					} else {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						if got, err := e.s.sleep.Load()(ctx, 0); err != nil || !strings.HasPrefix(got, "slept v") {
							fail(fmt.Errorf("Sleep = %q, %v", got, err))
						}
					}
					calls.Add(1)
				}()
			}
		})
	}
	for i := 1; i <= swaps; i++ {
		p, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, fmt.Sprintf("greet-v%d.proc", i)))
		if err != nil {
			t.Fatal(err)
		}
		p.Replaces = cur.ID
		if _, err := e.mgr.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		cur = p
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", n, calls.Load(), firstErr.Load())
	}
	if got, want := e.s.greet.Load()("x"), fmt.Sprintf("hello v%d, x", swaps); got != want {
		t.Fatalf("Greet = %q, want %q", got, want)
	}
	e.mgr.Close(context.Background())
	e.l.Close(context.Background())
	if kids := children(); len(kids) > 0 {
		t.Fatalf("processes left: %v", kids)
	}
	t.Logf("%d swaps, %d calls, 0 failed", swaps, calls.Load())
}
