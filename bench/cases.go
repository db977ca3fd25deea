package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/benchgreet"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// bench is one benchmark of the report run in this process.
type bench struct {
	row
	fn func(b *testing.B)
}

// inProcess is where the report says an in-process row comes from.
const inProcess = "go run ./bench (testing.Benchmark, in process)"

// runInProcess runs the group's in-process benchmarks, each runs times.
func runInProcess(runs int, group string) ([]row, error) {
	var cases []bench
	for _, bc := range (&fixture{}).cases() {
		if bc.group == group {
			cases = append(cases, bc)
		}
	}
	if len(cases) == 0 {
		return nil, nil
	}
	fx, err := newFixture()
	if err != nil {
		return nil, err
	}
	defer fx.close()
	var rows []row
	for _, bc := range fx.cases() {
		if bc.group != group {
			continue
		}
		r := bc.row
		r.source = inProcess
		for range runs {
			res := testing.Benchmark(bc.fn)
			if res.N == 0 {
				if err := fx.err(); err != nil {
					return nil, fmt.Errorf("benchmark %q: %w", bc.name, err)
				}
				return nil, fmt.Errorf("benchmark %q ran no iterations", bc.name)
			}
			r.vals = append(r.vals, float64(res.T.Nanoseconds())/float64(res.N))
			r.allocs = append(r.allocs, float64(res.AllocsPerOp()))
		}
		rows = append(rows, r)
	}
	return rows, fx.err()
}

// fixture holds what the benchmarks run against: a registry with the slots,
// a manager whose script patch serves one of them, and a manager to apply
// patches to. A benchmark that fails records why in errs, since
// testing.Benchmark keeps a failed benchmark's log to itself.
type fixture struct {
	dir   string    // temporary directory of the script files
	paths [2]string // two versions of the script, differing by a blank line

	add           *registry.Func[func(a, b int) int]
	greetCompiled *registry.Func[func(string) string]
	greetScript   *registry.Func[func(string) string]
	scriptMgr     *hotswap.Manager // serves greetScript with the script
	applyMgr      *hotswap.Manager // manual apply and revert
	applyReg      *registry.Registry
	loadMgr       *hotswap.Manager // script load and apply, each version replacing the last
	loader        *script.Loader
	scriptSeq     int    // versions loaded into loadMgr so far
	scriptPrev    string // the ID of the version loadMgr serves, if any

	mu   sync.Mutex // guards errs
	errs []error
}

func newFixture() (fx *fixture, err error) {
	fx = &fixture{}
	defer func() {
		if err != nil {
			fx.close()
		}
	}()
	if fx.dir, fx.paths, err = newTempScript(); err != nil {
		return nil, err
	}
	ctx := context.Background()

	reg := registry.New()
	fx.add = registry.MustRegister(reg, "bench.Add", add)
	fx.greetCompiled = registry.MustRegister(reg, "bench.GreetCompiled", benchgreet.Compiled)

	sreg := registry.New()
	fx.greetScript = registry.MustRegister(sreg, "example.Greet", benchgreet.Compiled)
	if fx.scriptMgr, err = hotswap.New(sreg, hotswap.Options{}); err != nil {
		return nil, fmt.Errorf("manager for the script call: %w", err)
	}
	l := script.New(script.Options{})
	if err := fx.scriptMgr.Attach(l); err != nil {
		return nil, fmt.Errorf("attach the script loader: %w", err)
	}
	p, err := fx.scriptMgr.Load(ctx, l, fx.paths[0])
	if err != nil {
		return nil, fmt.Errorf("load the script: %w", err)
	}
	if _, err := fx.scriptMgr.Apply(ctx, p); err != nil {
		_ = fx.scriptMgr.Release(p)
		return nil, fmt.Errorf("apply the script: %w", err)
	}
	// Both must answer the same, or the comparison is of different work.
	const in = "fr:ada lovelace"
	if got, want := fx.greetScript.Load()(in), benchgreet.Compiled(in); got != want {
		return nil, fmt.Errorf("the script's Greet(%q) = %q, the compiled one %q: they must do the same work", in, got, want)
	}

	fx.applyReg = registry.New()
	registry.MustRegister(fx.applyReg, "bench.Price", price)
	if fx.applyMgr, err = hotswap.New(fx.applyReg, hotswap.Options{HistorySize: 1}); err != nil {
		return nil, fmt.Errorf("manager for apply: %w", err)
	}

	lreg := registry.New()
	registry.MustRegister(lreg, "example.Greet", benchgreet.Compiled)
	if fx.loadMgr, err = hotswap.New(lreg, hotswap.Options{HistorySize: 1}); err != nil {
		return nil, fmt.Errorf("manager for script apply: %w", err)
	}
	fx.loader = script.New(script.Options{})
	if err := fx.loadMgr.Attach(fx.loader); err != nil {
		return nil, fmt.Errorf("attach the script loader: %w", err)
	}
	return fx, nil
}

func (fx *fixture) close() {
	ctx := context.Background()
	for _, m := range []*hotswap.Manager{fx.scriptMgr, fx.applyMgr, fx.loadMgr} {
		if m != nil {
			_ = m.Close(ctx)
		}
	}
	if fx.dir != "" {
		os.RemoveAll(fx.dir)
	}
}

// fail records why a benchmark failed and stops it.
func (fx *fixture) fail(b *testing.B, err error) {
	fx.mu.Lock()
	fx.errs = append(fx.errs, err)
	fx.mu.Unlock()
	b.FailNow()
}

func (fx *fixture) err() error {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return errors.Join(fx.errs...)
}

// cases lists the in-process rows in their order. A fixture of zero value
// lists them without running them.
func (fx *fixture) cases() []bench {
	call := func(name, what, base string, fn func(*testing.B)) bench {
		return bench{row{group: "calls", name: name, what: what, unit: unitNs, base: base, chart: "calls"}, fn}
	}
	apply := func(name, what string, fn func(*testing.B)) bench {
		return bench{row{group: "apply", name: name, what: what, unit: unitNs, chart: "apply"}, fn}
	}
	return []bench{
		call("direct call", "a //go:noinline func(a, b int) int", "", benchDirect),
		call("slot call", "Func.Load()(a, b) on the same func", "direct call", fx.benchSlot),
		call("compiled Greet", "a 10-line func through a slot: map lookup, string helpers, fmt.Sprintf", "", fx.benchGreet(fx.greetCompiled)),
		call("script Greet", "the same Greet as a script patch through its slot", "compiled Greet", fx.benchGreet(fx.greetScript)),
		call("compiled Hello", `func(name string) string { return "hello v1, " + name }, the process patch's func, compiled here`, "", benchHello),
		apply("manual apply", "Manager.Apply and Revert of a 1-slot patch", fx.benchApply),
		apply("script apply", "Manager.Load and Apply of a 50-line script file, replacing the previous version", fx.benchScriptApply),
	}
}

//go:noinline
func hello(name string) string { return "hello v1, " + name }

func benchHello(b *testing.B) {
	n := 0
	f := hello // through a func value, as a slot calls
	for i := 0; i < b.N; i++ {
		n += len(f("bench"))
	}
	runtime.KeepAlive(n)
}

//go:noinline
func add(a, b int) int { return a + b }

//go:noinline
func price(cents int) int { return cents }

func benchDirect(b *testing.B) {
	s := 0
	for i := 0; i < b.N; i++ {
		s = add(s, i)
	}
	runtime.KeepAlive(s) // the result is used: the loop is not optimised away
}

func (fx *fixture) benchSlot(b *testing.B) {
	s := 0
	for i := 0; i < b.N; i++ {
		s = fx.add.Load()(s, i)
	}
	runtime.KeepAlive(s)
}

func (fx *fixture) benchGreet(f *registry.Func[func(string) string]) func(b *testing.B) {
	return func(b *testing.B) {
		n := 0
		for i := 0; i < b.N; i++ {
			n += len(f.Load()("fr:ada lovelace"))
		}
		runtime.KeepAlive(n)
	}
}

func (fx *fixture) benchApply(b *testing.B) {
	ctx := context.Background()
	impl := func(cents int) int { return cents * 2 }
	for i := 0; i < b.N; i++ {
		id := "price-" + strconv.Itoa(i)
		if _, err := fx.applyMgr.Apply(ctx, hotswap.Patch{ID: id, Impls: map[string]any{"bench.Price": impl}}); err != nil {
			fx.fail(b, fmt.Errorf("manual apply: %w", err))
		}
		if err := fx.applyMgr.Revert(ctx, id); err != nil {
			fx.fail(b, fmt.Errorf("manual revert: %w", err))
		}
	}
}

func (fx *fixture) benchScriptApply(b *testing.B) {
	// testing.Benchmark calls this several times: the version served
	// carries over from one call to the next.
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		p, err := fx.loadMgr.Load(ctx, fx.loader, fx.paths[fx.scriptSeq%2])
		if err != nil {
			fx.fail(b, fmt.Errorf("script load: %w", err))
		}
		p.Replaces = fx.scriptPrev
		if _, err := fx.loadMgr.Apply(ctx, p); err != nil {
			_ = fx.loadMgr.Release(p)
			fx.fail(b, fmt.Errorf("script apply: %w", err))
		}
		fx.scriptPrev = p.ID
		fx.scriptSeq++
	}
}

func newTempScript() (dir string, paths [2]string, err error) {
	dir, err = os.MkdirTemp("", "hotpatch-bench-")
	if err != nil {
		return "", paths, fmt.Errorf("temp dir for the script: %w", err)
	}
	// Two files that differ by one blank line, so each apply is a new patch.
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("greet%d.go", i))
		if err := os.WriteFile(paths[i], []byte(benchgreet.Script+strings.Repeat("\n", i)), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", paths, fmt.Errorf("write the script: %w", err)
		}
	}
	return dir, paths, nil
}
