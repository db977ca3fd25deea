//go:build linux

package baseline_test

import (
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// example is examples/httpserver, built on first use: only the benchmark
// needs it.
var example = sync.OnceValues(func() (string, error) {
	out := filepath.Join(bins.dir, "httpserver")
	return out, testbuild.Build("../examples/httpserver", out, ".")
})

// BenchmarkBaselineStep restarts examples/httpserver by SIGHUP while 16
// clients send requests, and reports the median time from the signal to
// the new process serving (its "serving" log line) and the requests that
// failed. Run it with -benchtime=10x for the median of 10 restarts.
func BenchmarkBaselineStep(b *testing.B) {
	b.ReportAllocs()
	bin, err := example()
	if err != nil {
		b.Fatal(err)
	}
	tr := startExample(b, bin)
	cs := tr.startClients(16)
	var steps []time.Duration
	b.ResetTimer()
	for range b.N {
		old := tr.cur
		start := time.Now()
		if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		l := tr.waitFor("msg=serving")
		steps = append(steps, time.Since(start))
		b.StopTimer()
		tr.cur = field(b, l, "pid")
		tr.waitExit(old) // a restart waits for the old process to be gone
		b.StartTimer()
	}
	b.StopTimer()
	ok, failed, first := cs.halt()
	slices.Sort(steps)
	b.ReportMetric(float64(steps[len(steps)/2].Microseconds())/1000, "ms-to-serve-median")
	b.ReportMetric(float64(failed), "failed-requests")
	b.ReportMetric(float64(ok), "requests")
	if failed != 0 {
		b.Errorf("%d requests failed; first: %s", failed, first)
	}
	tr.stop()
}
