package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
	"github.com/hotpatch-go/hotpatch/registry"
)

// benchPool hands out distinct patch files, each built once and loaded at
// most once: a plugin cannot be opened twice, so every iteration of
// BenchmarkNativeLoad needs a .so of its own. They are built on demand,
// outside the timer (about a second each).
var benchPool struct {
	mu    sync.Mutex
	built int
	paths []string
}

func takePatches(b *testing.B, n int) []string {
	b.Helper()
	benchPool.mu.Lock()
	defer benchPool.mu.Unlock()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 2)
	for len(benchPool.paths) < n {
		benchPool.built++
		out := filepath.Join(fixtures, fmt.Sprintf("bench%03d.so", benchPool.built))
		benchPool.paths = append(benchPool.paths, out)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := buildPatch(context.Background(), self, filepath.Join("testdata", "patches", "greet_v1.go"), out, nil); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	out := benchPool.paths[:n]
	benchPool.paths = benchPool.paths[n:]
	return out
}

// BenchmarkNativeLoad measures what a patch dropped into the patch
// directory costs: Load (read, manifest and fingerprint check, private
// copy, plugin.Open, symbol lookups, type checks) and Apply.
//
// Two facts shape it. A plugin can be opened once, so every iteration
// needs a .so of its own, never opened before (see takePatches; building
// them takes about a second each, outside the timer). And each
// plugin.Open costs more than the one before, because the Go runtime
// re-indexes the types of every loaded module (runtime.typelinksinit) each
// time; so the loads run in a fresh child process per benchmark run, which
// also keeps .so loading out of the test process, and the figures are from
// that child: ns/op, B/op and allocs/op are the child's, per load. Run it
// with a fixed count:
//
//	go test -run '^$' -bench NativeLoad -benchtime 10x -count 5 ./loader/native/
func BenchmarkNativeLoad(b *testing.B) {
	benchLoad(b, 0)
}

// BenchmarkNativeLoadAfter50 is BenchmarkNativeLoad in a process that has
// already loaded 50 patches (about what a 256 MiB cap allows without -race).
func BenchmarkNativeLoadAfter50(b *testing.B) {
	benchLoad(b, 50)
}

const benchEnv = "HOTPATCH_NATIVE_BENCH"

// benchRequest is what the parent asks of a benchmark child.
type benchRequest struct {
	Warm  []string // loaded and applied first, untimed
	Timed []string // loaded and applied, each timed

	Call  string // instead: "direct" or "wrapped", see BenchmarkNativeCall
	Calls int    // how many
}

// benchResult is what the child reports.
type benchResult struct {
	Ns     []int64 // per timed load
	Bytes  uint64  // allocated during the timed loads
	Allocs uint64
}

func benchLoad(b *testing.B, warm int) {
	b.ReportAllocs()
	req := benchRequest{Warm: takePatches(b, warm), Timed: takePatches(b, b.N)}
	res := runBenchChild(b, req)
	if len(res.Ns) != b.N {
		b.Fatalf("benchmark child timed %d loads, want %d", len(res.Ns), b.N)
	}
	var sum int64
	for _, ns := range res.Ns {
		sum += ns
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum)/n, "ns/op")
	b.ReportMetric(float64(res.Bytes)/n, "B/op")
	b.ReportMetric(float64(res.Allocs)/n, "allocs/op")
	if !testing.Verbose() {
		return
	}
	sorted := slices.Sorted(slices.Values(res.Ns))
	b.Logf("after %d loaded: first %v, median %v, last %v, max %v", warm,
		time.Duration(res.Ns[0]), time.Duration(sorted[len(sorted)/2]), time.Duration(res.Ns[len(res.Ns)-1]), time.Duration(sorted[len(sorted)-1]))
}

// runBenchChild runs req in a benchmark child and returns what it says.
func runBenchChild(b *testing.B, req benchRequest) benchResult {
	b.Helper()
	data, _ := json.Marshal(req)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fixturesEnv+"="+fixtures, benchEnv+"="+string(data))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("benchmark child: %v\n%s", err, out)
	}
	var res benchResult
	if err := json.Unmarshal(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:], &res); err != nil {
		b.Fatalf("benchmark child said %q (%v)", out, err)
	}
	return res
}

//go:noinline
func benchIdentity(s string) string { return s }

var benchSink string

// BenchmarkNativeCall measures a call through the wrapper that every
// native implementation is served in (generated into the plugin by the
// patch build: a deferred recover-and-report around a direct call), the
// slot example.Identity of shapes.so, against a func of the same body
// called directly through a func value. The calls run in a benchmark child
// (the plugin is loaded there, not in the test process); ns/op, B/op and
// allocs/op are the child's, per call:
//
//	go test -run '^$' -bench NativeCall -count 6 ./loader/native/
func BenchmarkNativeCall(b *testing.B) {
	for _, call := range []string{"direct", "wrapped"} {
		b.Run(call, func(b *testing.B) {
			b.ReportAllocs()
			res := runBenchChild(b, benchRequest{Call: call, Calls: b.N})
			if len(res.Ns) != 1 {
				b.Fatalf("benchmark child said %+v", res)
			}
			n := float64(b.N)
			b.ReportMetric(float64(res.Ns[0])/n, "ns/op")
			b.ReportMetric(float64(res.Bytes)/n, "B/op")
			b.ReportMetric(float64(res.Allocs)/n, "allocs/op")
		})
	}
}

// callChild runs the calls of BenchmarkNativeCall in the child.
func callChild(req benchRequest) (benchResult, error) {
	f := benchIdentity
	if req.Call == "wrapped" {
		reg := registry.New()
		slots := host.Register(reg)
		mgr, err := hotswap.New(reg, hotswap.Options{})
		if err != nil {
			return benchResult{}, err
		}
		defer mgr.Close(context.Background())
		l := native.New(native.Options{MaxMemory: 1 << 40})
		defer l.Close(context.Background())
		path := filepath.Join(fixtures, "shapes.so")
		if why, err := os.ReadFile(path + ".err"); err == nil {
			return benchResult{}, fmt.Errorf("fixture shapes.so did not build: %s", why)
		}
		p, err := l.Load(context.Background(), mgr, path)
		if err != nil {
			return benchResult{}, err
		}
		if _, err := mgr.Apply(context.Background(), p); err != nil {
			return benchResult{}, err
		}
		f = slots.Identity.Load()
		if reflect.ValueOf(f).Pointer() != reflect.ValueOf(p.Impls["example.Identity"]).Pointer() {
			return benchResult{}, fmt.Errorf("the slot does not serve the patch's wrapper")
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range req.Calls {
		benchSink = f("x")
	}
	ns := time.Since(start).Nanoseconds()
	runtime.ReadMemStats(&after)
	return benchResult{Ns: []int64{ns}, Bytes: after.TotalAlloc - before.TotalAlloc, Allocs: after.Mallocs - before.Mallocs}, nil
}

// benchChild runs in the child: it loads and applies the requested patches
// and prints a benchResult as the last line of its output.
func benchChild(spec string) int {
	var req benchRequest
	if err := json.Unmarshal([]byte(spec), &req); err != nil {
		fmt.Println(err)
		return 1
	}
	if req.Call != "" {
		res, err := callChild(req)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		data, _ := json.Marshal(res)
		fmt.Printf("\n%s\n", data)
		return 0
	}
	reg := registry.New()
	slots := host.Register(reg)
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer mgr.Close(context.Background())
	l := native.New(native.Options{MaxMemory: 1 << 40}) // a -race plugin maps about 19 MiB
	defer l.Close(context.Background())
	if _, err := fingerprint.Fingerprint(); err != nil {
		fmt.Println(err)
		return 1
	}
	ctx := context.Background()
	load := func(path string) error {
		p, err := l.Load(ctx, mgr, path)
		if err != nil {
			return err
		}
		_, err = mgr.Apply(ctx, p)
		return err
	}
	for _, path := range req.Warm {
		if err := load(path); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	var res benchResult
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, path := range req.Timed {
		start := time.Now()
		if err := load(path); err != nil {
			fmt.Println(err)
			return 1
		}
		res.Ns = append(res.Ns, time.Since(start).Nanoseconds())
	}
	runtime.ReadMemStats(&after)
	res.Bytes, res.Allocs = after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
	if got := slots.Greet.Load()("x"); got != "v1, x" {
		fmt.Printf("slot serves %q\n", got)
		return 1
	}
	data, _ := json.Marshal(res)
	fmt.Printf("\n%s\n", data)
	return 0
}

// BenchmarkReadManifest measures the check before opening: reading the
// file, parsing its manifest section and comparing fingerprints.
func BenchmarkReadManifest(b *testing.B) {
	path := fixture(b, "v1.so")
	running, err := fingerprint.Fingerprint()
	if err != nil {
		b.Fatal(err)
	}
	want := running.Hash()
	b.ReportAllocs()
	for b.Loop() {
		m, err := native.ReadManifest(path)
		if err != nil {
			b.Fatal(err)
		}
		if m.Baseline.Hash() != want {
			b.Fatal("fingerprint differs")
		}
	}
}
