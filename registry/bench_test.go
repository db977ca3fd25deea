package registry_test

import (
	"sync/atomic"
	"testing"

	"github.com/hotpatch-go/hotpatch/registry"
)

//go:noinline
func add(a, b int) int { return a + b }

var sink int

var parallelSink atomic.Int64

func BenchmarkCallDirect(b *testing.B) {
	b.ReportAllocs()
	s := 0
	for i := 0; i < b.N; i++ {
		s = add(s, i)
	}
	sink = s
}

func BenchmarkCallSlot(b *testing.B) {
	r := registry.New()
	f := registry.MustRegister(r, "bench.Add", add)
	b.ReportAllocs()
	b.ResetTimer()
	s := 0
	for i := 0; i < b.N; i++ {
		s = f.Load()(s, i)
	}
	sink = s
}

func BenchmarkCallDirectParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := 0
		for pb.Next() {
			s = add(s, 1)
		}
		parallelSink.Add(int64(s))
	})
}

func BenchmarkCallSlotParallel(b *testing.B) {
	r := registry.New()
	f := registry.MustRegister(r, "bench.Add", add)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := 0
		for pb.Next() {
			s = f.Load()(s, 1)
		}
		parallelSink.Add(int64(s))
	})
}
