package hotswap_test

import (
	"context"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// BenchmarkCallToken is what a feeder adds to a call of a patched slot:
// Begin, the call through the slot, End.
func BenchmarkCallToken(b *testing.B) {
	reg := registry.New()
	f := registry.MustRegister(reg, "bench.Add", func(x int) int { return x })
	for _, name := range []string{"a.A", "b.B", "c.C", "d.D", "e.E", "f.F", "g.G"} {
		registry.MustRegister(reg, name, func() {})
	}
	m := mustNew(b, reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1 << 30, Window: time.Hour}})
	defer m.Close(context.Background())
	ctx := context.Background()
	if _, err := m.Apply(ctx, hotswap.Patch{ID: "p", Impls: map[string]any{"bench.Add": func(x int) int { return x + 1 }}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	s := 0
	for i := 0; i < b.N; i++ {
		c := m.Begin(ctx, "bench.Add")
		s = f.Load()(s)
		c.End(nil)
	}
	if s != b.N {
		b.Fatal("wrong sum")
	}
}

// BenchmarkCallTokenParallel is BenchmarkCallToken from every core at once,
// all counting against one patch.
func BenchmarkCallTokenParallel(b *testing.B) {
	reg := registry.New()
	f := registry.MustRegister(reg, "bench.Add", func(x int) int { return x })
	m := mustNew(b, reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 1 << 30, Window: time.Hour}})
	defer m.Close(context.Background())
	ctx := context.Background()
	if _, err := m.Apply(ctx, hotswap.Patch{ID: "p", Impls: map[string]any{"bench.Add": func(x int) int { return x + 1 }}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := 0
		for pb.Next() {
			c := m.Begin(ctx, "bench.Add")
			s = f.Load()(s)
			c.End(nil)
		}
	})
}

// BenchmarkApply1Probation is BenchmarkApply1 with a rollback policy: each
// apply starts a probation (a timer), each revert ends it.
func BenchmarkApply1Probation(b *testing.B) {
	reg := registry.New()
	registry.MustRegister(reg, "bench.S000", func(x int) int { return x })
	m := mustNew(b, reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 10, Window: time.Hour}})
	defer m.Close(context.Background())
	ctx := context.Background()
	p := hotswap.Patch{ID: "bench", Impls: map[string]any{"bench.S000": func(x int) int { return x + 1 }}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Apply(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := m.Revert(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
