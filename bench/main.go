// Command bench measures, on this machine and in one run, what hot
// patching costs, side by side: a call through a slot against a direct
// call and each kind of patch (script, native, process) against the same
// code compiled; the apply latency of each kind; a file event to served;
// the baseline step; hotpatch dev's hot path against rebuild-and-restart;
// the example server's throughput with its handlers behind slots against
// the same handlers called directly; memory per script version and per
// native patch. It prints a Markdown report (medians and spreads over the
// runs, the machine, the command), can write it between the markers of
// docs/benchmarks.md, and draws SVG charts of apply latency and call
// overhead:
//
//	go run ./bench -write docs/benchmarks.md -svgdir docs/
//	go run ./bench -quick -only calls,apply
//
// What runs in this process (slot, script and manual rows, script memory,
// the load on the example server) is measured here with testing.Benchmark;
// what needs a build against a binary or another process (native and
// process patches, file event to served, the baseline step, hotpatch dev)
// comes from those packages' own benchmarks, which the program runs as go
// test -bench -count N and whose lines it reads. Every figure is measured
// in the run; the median and the spread (lowest and highest) are over the
// runs. The full run takes minutes (it builds plugins and servers).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e := env{goTest: goTest, startExample: startExample, progress: os.Stderr}
	if err := run(ctx, os.Args[1:], os.Stdout, e); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// groups are the parts of the report, in its order; -only picks some.
var groups = []struct{ name, title string }{
	{"calls", "Calls: a slot against a direct call, each kind against compiled code"},
	{"apply", "Apply latency of each kind"},
	{"watch", "File event to served"},
	{"baseline", "Baseline step"},
	{"dev", "hotpatch dev: hot path against rebuild-and-restart"},
	{"http", "Example server: handlers behind slots against direct calls"},
	{"memory", "Memory per version"},
}

// config is what the flags say.
type config struct {
	args      []string // as given, for the report's command line
	runs      int
	benchtime string
	only      map[string]bool
	quick     bool
	out       string
	write     string
	svgdir    string
	http      httpConfig
	sizes     sizes
}

// sizes are the iteration counts of the cases measured in bulk.
type sizes struct {
	calltime       string // -benchtime of the subprocess call benchmarks
	nativeLoads    int    // .so loads per run (each a build)
	nativeMem      int    // .so loaded per run of the memory benchmark
	swaps          int    // process swaps per run
	watches        int    // file events per run
	steps          int    // baseline steps per run
	devEdits       int    // edits per run of hotpatch dev's benchmark
	devRuns        int    // its runs (each edit of a rebuild takes seconds)
	scriptVersions int    // script versions per run of the memory case
}

func parseFlags(args []string) (config, error) {
	c := config{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "how many times to run each benchmark (go test -count); the report gives the median and the spread")
	fs.StringVar(&c.benchtime, "benchtime", "1s", "how long each in-process benchmark runs (a duration, or Nx for N iterations), as go test -benchtime")
	only := fs.String("only", "", "measure only these comma-separated parts: "+groupNames()+" (default: all)")
	fs.BoolVar(&c.quick, "quick", false, "a short run for a first look or a test: -runs 2, -benchtime 100ms, few iterations of the slow cases and a short load")
	fs.StringVar(&c.out, "o", "", "write the Markdown report to this file instead of stdout")
	fs.StringVar(&c.write, "write", "", "replace the part of this Markdown file between <!-- bench:begin --> and <!-- bench:end --> with the report (docs/benchmarks.md)")
	fs.StringVar(&c.svgdir, "svgdir", "", "write the charts bench-apply.svg and bench-calls.svg into this directory (docs/)")
	fs.IntVar(&c.http.clients, "clients", 8, "keep-alive clients loading the example server")
	fs.DurationVar(&c.http.round, "round", 2*time.Second, "how long each load round on the example server lasts")
	fs.BoolVar(&c.http.apart, "apart", false, "load the two example servers one after the other (ABBA), not both at once")
	fs.IntVar(&c.http.pairs, "pairs", 20, "pairs of load rounds (slots, direct) on the example server, in the order ABBA ABBA ...")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: bench takes only flags (see -h)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		if !set["runs"] {
			c.runs = 2
		}
		if !set["benchtime"] {
			c.benchtime = "100ms"
		}
		if !set["round"] {
			c.http.round = 500 * time.Millisecond
		}
		if !set["pairs"] {
			c.http.pairs = 1
		}
		c.sizes = sizes{calltime: "100ms", nativeLoads: 2, nativeMem: 2, swaps: 3, watches: 3, steps: 2, devEdits: 1, devRuns: 1, scriptVersions: 50}
	} else {
		c.sizes = sizes{calltime: "1s", nativeLoads: 10, nativeMem: 5, swaps: 20, watches: 20, steps: 10, devEdits: 5, devRuns: min(c.runs, 3), scriptVersions: 1000}
	}
	if c.runs < 1 {
		return c, fmt.Errorf("-runs %d: need at least 1 run", c.runs)
	}
	if c.http.clients < 1 || c.http.pairs < 1 || c.http.round <= 0 {
		return c, fmt.Errorf("-clients %d, -pairs %d, -round %v: each must be positive", c.http.clients, c.http.pairs, c.http.round)
	}
	c.only = map[string]bool{}
	if *only == "" {
		for _, g := range groups {
			c.only[g.name] = true
		}
	}
	for _, name := range strings.Split(*only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.ContainsFunc(groups, func(g struct{ name, title string }) bool { return g.name == name }) {
			return c, fmt.Errorf("-only %q: no part %q; the parts are %s", *only, name, groupNames())
		}
		c.only[name] = true
	}
	if len(c.only) == 0 {
		return c, fmt.Errorf("-only %q names no part; the parts are %s", *only, groupNames())
	}
	return c, nil
}

func groupNames() string {
	var n []string
	for _, g := range groups {
		n = append(n, g.name)
	}
	return strings.Join(n, ",")
}

// setBenchtime sets the benchmark time testing.Benchmark reads from the
// testing package's own flag, registering that flag first outside tests.
func setBenchtime(v string) error {
	if flag.Lookup("test.benchtime") == nil {
		testing.Init()
	}
	if err := flag.Set("test.benchtime", v); err != nil {
		return fmt.Errorf("-benchtime %q: %w (want a duration such as 100ms or a count such as 50x)", v, err)
	}
	return nil
}

// env is what run reaches outside its process through; tests replace it.
type env struct {
	root         string // the module's directory, where go test runs
	goTest       func(ctx context.Context, dir string, args []string) ([]byte, error)
	startExample func(ctx context.Context, root, tmp string, direct bool) (*exampleServer, error)
	progress     io.Writer // one line per step
}

func run(ctx context.Context, args []string, stdout io.Writer, e env) error {
	start := time.Now()
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	if err := setBenchtime(c.benchtime); err != nil {
		return err
	}
	if e.root == "" {
		if e.root, err = moduleRoot(); err != nil {
			return err
		}
	}
	if e.progress == nil {
		e.progress = io.Discard
	}

	var rows []row
	var failed []error
	for _, g := range groups {
		if !c.only[g.name] {
			continue
		}
		t0 := time.Now()
		fmt.Fprintf(e.progress, "bench: %s ...\n", g.name)
		got, err := measure(ctx, e, c, g.name)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during %s: %w", g.name, ctx.Err())
		}
		rows = append(rows, got...)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", g.name, err))
			fmt.Fprintf(e.progress, "bench: %s failed: %v\n", g.name, err)
			continue
		}
		fmt.Fprintf(e.progress, "bench: %s done in %v\n", g.name, time.Since(t0).Round(time.Second))
	}

	report := writeMarkdown(c, rows, failed, readMachine(), time.Since(start))
	if err := errors.Join(failed...); err != nil {
		// A partial report goes to stdout only, not into the docs.
		_, _ = stdout.Write(report)
		return fmt.Errorf("%d part(s) failed; the report above lacks them and was not written: %w", len(failed), err)
	}
	if c.svgdir != "" {
		for _, ch := range charts {
			svg := svgChart(ch, rows)
			if svg == nil {
				continue // none of its rows were measured
			}
			if err := os.WriteFile(filepath.Join(c.svgdir, ch.file), svg, 0o644); err != nil {
				return fmt.Errorf("write -svgdir: %w", err)
			}
		}
	}
	if c.write != "" {
		if err := rewriteFile(c.write, report); err != nil {
			return err
		}
	}
	if c.out != "" {
		if err := os.WriteFile(c.out, report, 0o644); err != nil {
			return fmt.Errorf("write -o: %w", err)
		}
	} else if c.write == "" {
		if _, err := stdout.Write(report); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.progress, "bench: the whole run took %v\n", time.Since(start).Round(time.Second))
	return nil
}

// measure runs the cases of one group. A case that fails does not stop
// the others: the rows measured come back with the errors.
func measure(ctx context.Context, e env, c config, group string) ([]row, error) {
	if group == "http" {
		return measureHTTP(ctx, e, c.http)
	}
	rows, err := runInProcess(c.runs, group)
	errs := []error{err}
	if group == "memory" {
		r, err := scriptMemory(c.runs, c.sizes.scriptVersions)
		if err == nil {
			rows = append(rows, r)
		}
		errs = append(errs, err)
	}
	for _, g := range goBenches(c) {
		if g.group != group || ctx.Err() != nil {
			continue
		}
		fmt.Fprintf(e.progress, "bench:   %s\n", g.command())
		got, err := runGoBench(ctx, e, g)
		rows = append(rows, got...)
		errs = append(errs, err)
	}
	return rows, errors.Join(errs...)
}

// moduleRoot finds the module's directory, where the go test commands run.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (bench needs the go command on PATH)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the hotpatch module: run go run ./bench from its checkout")
	}
	return filepath.Dir(mod), nil
}
