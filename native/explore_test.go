package native

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

//go:noinline
func exMul(a, b int) int { return a * b }

func TestChildExplorePadPreempt(t *testing.T) {
	inChild(t)
	r, err := Redirect(exMul, func(a, b int) int { return a + b })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v prefixes %d", r, prefixesOf(r))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				exMul(i, 2)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		runtime.GC()
		n++
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d GCs", n)
	r.Restore()
}
