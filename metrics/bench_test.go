package metrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// BenchmarkHandle is the collector's cost per event, which bounds the
// event rate its subscription keeps up with.
func BenchmarkHandle(b *testing.B) {
	f := newFixture(b, hotswap.Options{})
	events := []hotswap.Event{
		{Type: hotswap.EventApplied, Kind: hotswap.KindScript, PatchID: "p", Generation: 1, Time: time.Now()},
		{Type: hotswap.EventReverted, Kind: hotswap.KindScript, PatchID: "p", Generation: 2},
		{Type: hotswap.EventRetired, Kind: hotswap.KindScript, PatchID: "p", Generation: 2},
		{Type: hotswap.EventRejected, Kind: hotswap.KindScript, Err: fmt.Errorf("x: %w", hotswap.ErrTypeMismatch)},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.c.handle(events[i%len(events)])
	}
}

// BenchmarkScrape is one Gather of the collector alone over a manager of
// 100 slots, half of them patched.
func BenchmarkScrape(b *testing.B) { benchScrape(b, hotswap.Options{}) }

// BenchmarkScrapeProbation is BenchmarkScrape with the 50 patches on
// probation: 101 more series.
func BenchmarkScrapeProbation(b *testing.B) {
	benchScrape(b, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
}

func benchScrape(b *testing.B, opts hotswap.Options) {
	reg := registry.New()
	for i := range 100 {
		registry.MustRegister(reg, fmt.Sprintf("bench.Slot%d", i), func(n int) int { return n })
	}
	m, err := hotswap.New(reg, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	c := New(m)
	defer c.Close()
	for i := 0; i < 100; i += 2 {
		name := fmt.Sprintf("bench.Slot%d", i)
		if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p-" + name, Kind: hotswap.KindScript,
			Impls: map[string]any{name: func(n int) int { return -n }}}); err != nil {
			b.Fatal(err)
		}
	}
	preg := prometheus.NewRegistry()
	preg.MustRegister(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := preg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
