//go:build linux

package baseline_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// examples are two builds of examples/httpserver (versions v1 and v2),
// made on first use: only the benchmark needs them.
var examples = sync.OnceValues(func() ([2]string, error) {
	var out [2]string
	for i, v := range []string{"v1", "v2"} {
		out[i] = filepath.Join(bins.dir, "httpserver-"+v)
		if err := testbuild.Build("../examples/httpserver", out[i], ".", "-ldflags=-X main.version="+v); err != nil {
			return out, err
		}
	}
	return out, nil
})

// BenchmarkBaselineStep restarts examples/httpserver by SIGHUP,
// alternating two builds of it, while 16 clients send requests, and reports the median time from the signal to
// the new process serving (its "serving" log line) and the requests that
// failed. Run it with -benchtime=10x for the median of 10 restarts.
func BenchmarkBaselineStep(b *testing.B) {
	b.ReportAllocs()
	bin, err := examples()
	if err != nil {
		b.Fatal(err)
	}
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
