package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// goBenches are the rows measured by other packages' benchmarks, each
// package built and run by go test (see goBench).
func goBenches(c config) []goBench {
	s, n := c.sizes, c.runs
	x := func(k int) string { return strconv.Itoa(k) + "x" }
	ns := func(group, name, what, base, chart string) row {
		return row{group: group, name: name, what: what, unit: unitNs, base: base, chart: chart}
	}
	return []goBench{
		{group: "calls", pkg: "./loader/native/", bench: "NativeCall", benchtime: s.calltime, count: n, rows: []metricRow{
			{bench: "BenchmarkNativeCall/direct", metric: "ns/op", scale: 1, allocs: true,
				row: ns("calls", "compiled Identity", "func(s string) string { return s }, //go:noinline, through a func value, in the native benchmark's child process", "", "calls")},
			{bench: "BenchmarkNativeCall/wrapped", metric: "ns/op", scale: 1, allocs: true,
				row: ns("calls", "native Identity", "the same func from a native patch (.so) through its slot: the patch's recover-and-report wrapper", "compiled Identity", "calls")},
		}},
		{group: "calls", pkg: "./loader/process/", bench: "ProcessCall/^(hotpatch|unix-socket-floor)$/^serial$", benchtime: s.calltime, count: n, rows: []metricRow{
			{bench: "BenchmarkProcessCall/hotpatch/serial", metric: "ns/op", scale: 1, allocs: true,
				row: ns("calls", "process Hello", "the same func served by a process patch, through its slot and the call channel (serial)", "compiled Hello", "calls")},
			{bench: "BenchmarkProcessCall/unix-socket-floor/serial", metric: "ns/op", scale: 1, allocs: true,
				row: ns("calls", "unix socket round trip", "6 bytes there and back between two Go processes: the floor of a process call", "", "")},
		}},
		{group: "apply", pkg: "./loader/native/", bench: "NativeLoad$", benchtime: x(s.nativeLoads), count: n, rows: []metricRow{
			{bench: "BenchmarkNativeLoad", metric: "ns/op", scale: 1, allocs: true,
				row: ns("apply", "native apply", "Load (manifest and fingerprint check, plugin.Open, type checks) and Apply of a small .so, in a fresh process; mean of "+x(s.nativeLoads)+" loads per run", "", "apply")},
		}},
		{group: "apply", pkg: "./loader/process/", bench: "ProcessSwap", benchtime: x(s.swaps), count: n, rows: []metricRow{
			{bench: "BenchmarkProcessSwap", metric: "p50-ms", scale: 1e6,
				row: ns("apply", "process apply", "start a new .proc version (copy, start, handshake, health check), Apply replacing the old one; p50 of "+x(s.swaps)+" swaps per run", "", "apply")},
		}},
		{group: "watch", pkg: "./loader/script/", bench: "WatchToServed", benchtime: x(s.watches), count: n, rows: []metricRow{
			{bench: "BenchmarkWatchToServed/debounce=100ms", metric: "p50-ms", scale: 1e6,
				row: ns("watch", "rename to served, debounce 100 ms (p50)", "rename of a script into the patch directory to the first call served by it: fsnotify, debounce, settle, load, apply; p50 of "+x(s.watches)+" per run", "", "")},
			{bench: "BenchmarkWatchToServed/debounce=100ms", metric: "p99-ms", scale: 1e6,
				row: ns("watch", "rename to served, debounce 100 ms (p99)", "the same, p99", "", "")},
			{bench: "BenchmarkWatchToServed/debounce=10ms", metric: "p50-ms", scale: 1e6,
				row: ns("watch", "rename to served, debounce 10 ms (p50)", "the same with a 10 ms debounce", "", "")},
			{bench: "BenchmarkWatchToServed/debounce=10ms", metric: "p99-ms", scale: 1e6,
				row: ns("watch", "rename to served, debounce 10 ms (p99)", "the same, p99", "", "")},
		}},
		{group: "baseline", pkg: "./baseline/", bench: "BaselineStep", benchtime: x(s.steps), count: n, rows: []metricRow{
			{bench: "BenchmarkBaselineStep", metric: "ms-to-serve-median", scale: 1e6,
				row: ns("baseline", "SIGHUP to new process serving", "examples/httpserver restarted by SIGHUP into the other of two builds while 16 clients send requests; median of "+x(s.steps)+" per run", "", "")},
			{bench: "BenchmarkBaselineStep", metric: "failed-requests", scale: 1,
				row: row{group: "baseline", name: "failed requests during the steps", what: "requests of those clients that failed during the run's restarts", unit: unitCount}},
			{bench: "BenchmarkBaselineStep", metric: "requests", scale: 1,
				row: row{group: "baseline", name: "requests served", what: "requests of those clients answered during the run", unit: unitCount}},
		}},
		{group: "dev", pkg: "./cmd/hotpatch/", bench: "DevLoop", benchtime: x(s.devEdits), count: s.devRuns, rows: []metricRow{
			{bench: "BenchmarkDevLoop/hot", metric: "p50-ms", scale: 1e6,
				row: ns("dev", "hot (script)", "hotpatch dev: save of a body edit of Greet to the new answer; p50 of "+x(s.devEdits)+" edits per run", "", "")},
			{bench: "BenchmarkDevLoop/hot-native", metric: "p50-ms", scale: 1e6,
				row: ns("dev", "hot (native)", "hotpatch dev: a body edit that calls an unexported helper (a native patch through the export shims)", "hot (script)", "")},
			{bench: "BenchmarkDevLoop/baseline-step", metric: "p50-ms", scale: 1e6,
				row: ns("dev", "baseline step", "hotpatch dev: the same edit plus a signature change (hotpatch build, SIGHUP)", "hot (script)", "")},
			{bench: "BenchmarkDevLoop/rebuild-restart", metric: "p50-ms", scale: 1e6,
				row: ns("dev", "rebuild-restart", "go build, SIGTERM, start the new binary (what air or a shell loop does) for the body edit", "hot (script)", "")},
		}},
		{group: "memory", pkg: "./loader/native/", bench: "NativeMemory", benchtime: x(s.nativeMem), count: n, rows: []metricRow{
			{bench: "BenchmarkNativeMemory", metric: "rss-KB/patch", scale: 1024,
				row: row{group: "memory", name: "per native patch", what: "peak resident set of a process that loaded 1+" + strconv.Itoa(s.nativeMem) + " small .so patches less that of one that loaded 1, per patch (a plugin is never unloaded)", unit: unitBytes}},
		}},
	}
}

// scriptMemory applies versions successive versions of a script, each
// replacing the one before as the patch directory does, and reports the
// growth of the live heap per version once the retired ones are gone; runs
// times.
func scriptMemory(runs, versions int) (row, error) {
	r := row{group: "memory", name: "per script version", unit: unitBytes, source: inProcess,
		what: fmt.Sprintf("live heap after GC, after %d script versions each replacing the one before (all but one retired), less before them, per version", versions)}
	for range runs {
		v, err := scriptMemoryRun(versions)
		if err != nil {
			return r, fmt.Errorf("memory per script version: %w", err)
		}
		r.vals = append(r.vals, v)
	}
	return r, nil
}

func scriptMemoryRun(versions int) (float64, error) {
	const warmup = 20
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hotpatch-bench-memory-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n })
	m, err := hotswap.New(reg, hotswap.Options{HistorySize: 1})
	if err != nil {
		return 0, err
	}
	defer m.Close(ctx)
	events, cancel := m.Subscribe(4 * (warmup + versions))
	defer cancel()
	l := script.New(script.Options{})
	if err := m.Attach(l); err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "greet.go")
	prev := ""
	apply := func(n int) error {
		// Each version has its own body, so each compiles its own code.
		src := fmt.Sprintf("package patch\n\nimport \"strconv\"\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return name + \" v\" + strconv.Itoa(%d) }\n", n)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return err
		}
		p, err := m.Load(ctx, l, path) // as the patch directory loads
		if err != nil {
			return err
		}
		p.Replaces = prev
		if _, err := m.Apply(ctx, p); err != nil {
			_ = m.Release(p)
			return err
		}
		prev = p.ID
		if got, want := greet.Load()("x"), "x v"+strconv.Itoa(n); got != want {
			return fmt.Errorf("version %d serves %q, want %q", n, got, want)
		}
		return nil
	}
	retired := 0
	waitRetired := func(n int) error {
		timeout := time.After(time.Minute)
		for retired < n {
			select {
			case ev := <-events:
				if ev.Type == hotswap.EventRetired {
					retired++
				}
			case <-timeout:
				return fmt.Errorf("%d of %d versions retired after a minute", retired, n)
			}
		}
		return nil
	}
	for n := range warmup {
		if err := apply(n); err != nil {
			return 0, err
		}
	}
	if err := waitRetired(warmup - 1); err != nil {
		return 0, err
	}
	before := liveHeap()
	for n := warmup; n < warmup+versions; n++ {
		if err := apply(n); err != nil {
			return 0, err
		}
	}
	if err := waitRetired(warmup - 1 + versions); err != nil {
		return 0, err
	}
	return (float64(liveHeap()) - float64(before)) / float64(versions), nil
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 3 { // finalizers and sweeping settle over a few cycles
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
