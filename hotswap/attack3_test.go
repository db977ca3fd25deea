package hotswap_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttack3HugeHistorySize: HistorySize is a bound, not a size to
// allocate: a manager asked to keep "everything" (math.MaxInt) must not
// panic in New, nor take memory for events it has not seen.
func TestAttack3HugeHistorySize(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.F", func() int { return 1 })
	m, err := hotswap.New(reg, hotswap.Options{HistorySize: math.MaxInt})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	for i := range 3 {
		id := fmt.Sprint("p", i)
		if _, err := m.Apply(context.Background(), hotswap.Patch{ID: id, Kind: hotswap.KindManual,
			Impls: map[string]any{"t.F": func() int { return 2 }}}); err != nil {
			t.Fatal(err)
		}
	}
	if h := m.History(); len(h) != 3 || h[0].PatchID != "p0" || h[2].PatchID != "p2" {
		t.Fatalf("history %v, want the applies of p0, p1, p2", h)
	}
}
