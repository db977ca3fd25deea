package metrics

import (
	"context"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TimeLoads returns l wrapped so that the time from the start of each of
// its loads to the patch's applied event is observed in
// hotpatch_apply_duration_seconds. Attach the wrapped loader in l's place
// ([hotswap.Manager.Attach]); it behaves as l in every other way, and the
// collector still finds l's memory.
func (c *Collector) TimeLoads(l hotswap.Loader) hotswap.Loader {
	return &timedLoader{Loader: l, c: c}
}

// timedLoader notes when each load began, by the ID of the patch it made.
type timedLoader struct {
	hotswap.Loader
	c *Collector
}

func (t *timedLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	start := time.Now()
	p, err := t.Loader.Load(ctx, host, path)
	if err == nil && p.ID != "" {
		t.c.loaded(p.ID, start)
	}
	return p, err
}

// loaded notes the start of the load of patch id, until its applied or
// rejected event.
func (c *Collector) loaded(id string, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= maxPendingLoads {
		// Loads that were never applied: forget the oldest.
		oldest := ""
		for k, v := range c.pending {
			if oldest == "" || v.Before(c.pending[oldest]) {
				oldest = k
			}
		}
		delete(c.pending, oldest)
	}
	c.pending[id] = start
}

// unwrap returns the loader a timedLoader wraps, or l.
func unwrap(l hotswap.Loader) hotswap.Loader {
	for {
		t, ok := l.(*timedLoader)
		if !ok {
			return l
		}
		l = t.Loader
	}
}
