package script_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
	"github.com/hotpatch-go/hotpatch/watcher"
)

// BenchmarkWatchToServed measures what a developer waits for: from the
// rename that publishes a new version of a script in the patch directory to
// the first call that the slot serves from it. It goes through the whole
// path — fsnotify, the debounce, the settle check, the script loader, the
// manager — and reports the median and 99th percentile as p50-ms and p99-ms.
// The debounce dominates; the sub-benchmarks show the default and a short
// one.
func BenchmarkWatchToServed(b *testing.B) {
	for _, debounce := range []time.Duration{watcher.DefaultDebounce, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("debounce=%v", debounce), func(b *testing.B) {
			reg := registry.New()
			greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n })
			m, err := hotswap.New(reg, hotswap.Options{HistorySize: 16})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close(context.Background())
			dir := b.TempDir()
			if err := m.Attach(script.New(script.Options{})); err != nil {
				b.Fatal(err)
			}
			w, err := patchdir.Watch(context.Background(), m, dir, patchdir.Options{Debounce: debounce})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()

			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				want := fmt.Sprintf("v%d, x", i)
				src := fmt.Sprintf("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return %q + n }\n", fmt.Sprintf("v%d, ", i))
				tmp := filepath.Join(dir, ".greet.go.tmp")
				if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := os.Rename(tmp, filepath.Join(dir, "greet.go")); err != nil {
					b.Fatal(err)
				}
				deadline := start.Add(30 * time.Second)
				for greet.Load()("x") != want {
					if time.Now().After(deadline) {
						b.Fatalf("version %d not served after 30s; history: %v", i, m.History())
					}
					time.Sleep(100 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
