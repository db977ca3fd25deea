//go:build linux

package baseline_test

import (
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBaselineStep restarts examples/httpserver by SIGHUP,
// alternating two builds of it (TestMain's, without -race), while 16
// clients send requests, and reports the median time from the signal to
// the new process serving (its "serving" log line) and the requests that
// failed. Run it with -benchtime=10x for the median of 10 restarts.
func BenchmarkBaselineStep(b *testing.B) {
	b.ReportAllocs()
	bin := bins.example
	tr := startExample(b, bin[0])
	cs := tr.startClients(16)
	var steps []time.Duration
	b.ResetTimer()
	for i := range b.N {
		old, want := tr.cur, "v"+strconv.Itoa(2-i%2)
		b.StopTimer()
		tr.switchTo(bin[1-i%2]) // the builds alternate
		b.StartTimer()
		start := time.Now()
		if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		l := tr.waitFor("msg=serving")
		steps = append(steps, time.Since(start))
		b.StopTimer()
		tr.cur = field(b, l, "pid")
		if v := fieldStr(l, "version"); v != want || tr.cur == old {
			b.Fatalf("after the restart: %q, want a new process of version %s", l, want)
		}
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
