// Package memprobe reads the memory a loader counts (its Memory method)
// for the views of a manager (metrics, the debug page) without waiting for
// a loader that is busy: the native loader holds its lock while a plugin's
// init functions run, which may take seconds, or never end.
package memprobe

import (
	"reflect"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// Wait is how long a read waits for a loader before it gives up.
const Wait = 250 * time.Millisecond

// Loader is a loader that counts the memory its patches hold against a
// cap (loader/native).
type Loader interface {
	Memory() (used, limit int64)
}

// Prober reads Memory with one call in flight per loader at most: a
// loader that is busy holds one goroutine of the prober, however many
// reads come meanwhile. The zero value is ready to use.
type Prober struct {
	mu    sync.Mutex // guards calls
	calls map[hotswap.Loader]*call
}

type call struct {
	done        chan struct{} // closed when Memory returned
	used, limit int64
	ok          bool // Memory returned without a panic
}

// Memory returns l's memory, with ok false when l is not a [Loader], or
// did not answer within [Wait], or panicked.
func (p *Prober) Memory(l hotswap.Loader) (used, limit int64, ok bool) {
	ml, isMem := l.(Loader)
	if !isMem {
		return 0, 0, false
	}
	if !reflect.TypeOf(l).Comparable() {
		// Not a map key: called in place, as a loader of its own kind
		// is not the native one.
		used, limit = ml.Memory()
		return used, limit, true
	}
	p.mu.Lock()
	c := p.calls[l]
	if c == nil {
		if p.calls == nil {
			p.calls = make(map[hotswap.Loader]*call)
		}
		c = &call{done: make(chan struct{})}
		p.calls[l] = c
		go p.run(l, ml, c)
	}
	p.mu.Unlock()
	t := time.NewTimer(Wait)
	defer t.Stop()
	select {
	case <-c.done:
		return c.used, c.limit, c.ok
	case <-t.C:
		return 0, 0, false
	}
}

// run calls Memory once and forgets the call, so that the next read asks
// again.
func (p *Prober) run(l hotswap.Loader, ml Loader, c *call) {
	defer func() {
		_ = recover() // a loader's panic is its own: the read says not ok
		p.mu.Lock()
		delete(p.calls, l)
		p.mu.Unlock()
		close(c.done)
	}()
	c.used, c.limit = ml.Memory()
	c.ok = true
}
