package journal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// BenchmarkApplySync is the cost of making one change durable: an apply
// and a revert, each followed by Sync (a journal write: temporary file,
// fsync, rename, fsync of the directory).
func BenchmarkApplySync(b *testing.B) {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	j, err := journal.Open(context.Background(), m, filepath.Join(b.TempDir(), "state"), journal.Options{Identity: "exe:bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprint("p", i)
		i++
		if _, err := m.Apply(ctx, hotswap.Patch{ID: id, Impls: map[string]any{"example.Greet": func() string { return id }}}); err != nil {
			b.Fatal(err)
		}
		if err := j.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Revert(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := j.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
