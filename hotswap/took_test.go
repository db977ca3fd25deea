package hotswap_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// funcLoader loads with the func it is given.
type funcLoader struct {
	load func(ctx context.Context, h hotswap.Host, path string) (hotswap.Patch, error)
}

func (l *funcLoader) Kind() hotswap.Kind          { return "func" }
func (l *funcLoader) Match(string) bool           { return true }
func (l *funcLoader) Close(context.Context) error { return nil }
func (l *funcLoader) Load(ctx context.Context, h hotswap.Host, path string) (hotswap.Patch, error) {
	return l.load(ctx, h, path)
}

// TestAppliedTook: the applied event says how long the patch took to
// serve, from the start of the load that made it; a patch applied by hand
// from the call of Apply.
func TestAppliedTook(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.F", func() int { return 0 })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	events, cancel := m.Subscribe(4)
	defer cancel()
	const loading = 20 * time.Millisecond
	l := &funcLoader{load: func(context.Context, hotswap.Host, string) (hotswap.Patch, error) {
		time.Sleep(loading) // the work of a load (compiling, starting a process)
		return hotswap.Patch{ID: "p", Impls: map[string]any{"t.F": func() int { return 1 }}}, nil
	}}
	start := time.Now()
	p, err := m.Load(context.Background(), l, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	if e := <-events; e.Type != hotswap.EventApplied || e.Took < loading || e.Took > total {
		t.Fatalf("applied event %v: Took %v, want between %v and %v", e, e.Took, loading, total)
	}
	start = time.Now()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "q", Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	total = time.Since(start)
	if e := <-events; e.Took <= 0 || e.Took > total {
		t.Fatalf("manual apply: Took %v, want more than 0 and at most %v", e.Took, total)
	}
}
