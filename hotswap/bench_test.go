package hotswap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

func benchApply(b *testing.B, slots int) {
	reg := registry.New()
	impls := make(map[string]any, slots)
	for i := range slots {
		name := fmt.Sprintf("bench.S%03d", i)
		registry.MustRegister(reg, name, func(x int) int { return x })
		impls[name] = func(x int) int { return x + 1 }
	}
	m := mustNew(b, reg, hotswap.Options{})
	defer m.Close(context.Background())
	ctx := context.Background()
	p := hotswap.Patch{ID: "bench", Impls: impls}
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

// BenchmarkApply1 applies then reverts a patch of one slot.
func BenchmarkApply1(b *testing.B) { benchApply(b, 1) }

// BenchmarkApply100 applies then reverts a patch of 100 slots.
func BenchmarkApply100(b *testing.B) { benchApply(b, 100) }
