//go:build linux

package native_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkNativeMemory measures the memory each loaded native patch keeps
// for the life of the process (a plugin cannot be unloaded): the peak
// resident set of a benchmark child that loads and applies 1+b.N patches,
// less that of a child that loads one, per patch. Each patch is a .so of
// its own, built first (about a second each, outside the timer), so run it
// with a small fixed count:
//
//	go test -run '^$' -bench NativeMemory -benchtime 5x -count 3 ./loader/native/
//
// rss-KB/patch is the figure; ns/op is the load and apply of one patch in
// the larger child.
func BenchmarkNativeMemory(b *testing.B) {
	one := memChild(b, benchRequest{Timed: takePatches(b, 1)})
	many := memChild(b, benchRequest{Timed: takePatches(b, 1+b.N)})
	var sum int64
	for _, ns := range many.res.Ns[1:] {
		sum += ns
	}
	b.ReportMetric(float64(sum)/float64(b.N), "ns/op")
	b.ReportMetric(float64(many.maxRSSKB-one.maxRSSKB)/float64(b.N), "rss-KB/patch")
}

type memResult struct {
	res      benchResult
	maxRSSKB int64 // the child's peak resident set
}

// memChild is runBenchChild that also reads the child's peak resident set.
func memChild(b *testing.B, req benchRequest) memResult {
	b.Helper()
	data, _ := json.Marshal(req)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fixturesEnv+"="+fixtures, benchEnv+"="+string(data))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("benchmark child: %v\n%s", err, out)
	}
	var m memResult
	if err := json.Unmarshal(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:], &m.res); err != nil {
		b.Fatalf("benchmark child said %q (%v)", out, err)
	}
	if len(m.res.Ns) != len(req.Timed) {
		b.Fatalf("benchmark child timed %d loads, want %d", len(m.res.Ns), len(req.Timed))
	}
	m.maxRSSKB = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // kilobytes on Linux
	return m
}
