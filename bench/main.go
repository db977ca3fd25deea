// Command bench measures, on this machine and in one run, what hot patching
// costs in process: a call through a registry slot against a direct call, a
// script-patched call against the same function compiled, and the latency of
// applying a patch. It prints a Markdown section (medians and spreads over
// -runs runs, the machine, the command) and can draw the call overhead as an
// SVG bar chart.
//
//	go run ./bench -runs 5 -o bench.md -svg calls.svg
//
// Each figure is one testing.Benchmark per run; the median and the spread
// (lowest to highest) are over the runs. What needs other processes or a
// build (native and process patches, file event to served, the baseline
// step, hotpatch dev, the example server under load) is not measured here;
// docs/benchmarks.md gives the go test commands for those.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	runs      int
	benchtime string
	out       string
	svg       string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.runs, "runs", 5, "how many times to run each benchmark; the report gives the median and the spread")
	fs.StringVar(&c.benchtime, "benchtime", "1s", "how long each benchmark runs (a duration, or Nx for N iterations), as go test -benchtime")
	fs.StringVar(&c.out, "o", "", "write the Markdown to this file instead of stdout")
	fs.StringVar(&c.svg, "svg", "", "also write an SVG bar chart of the call overhead to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: bench takes only flags (see -h)", fs.Args())
	}
	if c.runs < 1 {
		return c, fmt.Errorf("-runs %d: need at least 1 run", c.runs)
	}
	return c, nil
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

func run(args []string, stdout io.Writer) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	if err := setBenchtime(c.benchtime); err != nil {
		return err
	}
	fx, err := newFixture()
	if err != nil {
		return err
	}
	defer fx.close()

	rows := make([]row, 0, len(fx.cases()))
	for _, bc := range fx.cases() {
		r := row{bench: bc}
		for range c.runs {
			res := testing.Benchmark(bc.fn)
			if res.N == 0 {
				if err := fx.err(); err != nil {
					return fmt.Errorf("benchmark %q: %w", bc.name, err)
				}
				return fmt.Errorf("benchmark %q ran no iterations", bc.name)
			}
			r.ns = append(r.ns, float64(res.T.Nanoseconds())/float64(res.N))
			r.allocs = append(r.allocs, float64(res.AllocsPerOp()))
		}
		rows = append(rows, r)
	}
	if err := fx.err(); err != nil {
		return err
	}

	var md bytes.Buffer
	writeMarkdown(&md, args, c.runs, rows, readMachine())
	if c.svg != "" {
		if err := os.WriteFile(c.svg, svgChart(rows), 0o644); err != nil {
			return fmt.Errorf("write -svg: %w", err)
		}
	}
	if c.out != "" {
		if err := os.WriteFile(c.out, md.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write -o: %w", err)
		}
		return nil
	}
	_, err = stdout.Write(md.Bytes())
	return err
}

// row is one benchmark's results over the runs.
type row struct {
	bench
	ns     []float64 // time per op of each run
	allocs []float64 // allocations per op of each run
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// machine describes where the figures were taken.
type machine struct {
	cpu, goos, goarch, goversion string
	numCPU, gomaxprocs           int
}

func readMachine() machine {
	m := machine{
		cpu:        "unknown (no model name in /proc/cpuinfo)",
		goos:       runtime.GOOS,
		goarch:     runtime.GOARCH,
		goversion:  runtime.Version(),
		numCPU:     runtime.NumCPU(),
		gomaxprocs: runtime.GOMAXPROCS(0),
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			m.cpu = strings.TrimSpace(v)
			break
		}
	}
	return m
}

// fmtNs prints a time per op with three significant digits in a fitting unit.
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	default:
		return fmt.Sprintf("%.3g ns", ns)
	}
}

// writeMarkdown writes the report; args are the program's arguments, for
// the command that reproduces it.
func writeMarkdown(w io.Writer, args []string, runs int, rows []row, m machine) {
	fmt.Fprintf(w, "## Benchmark report (go run ./bench)\n\n")
	fmt.Fprintf(w, "Command:\n\n    %s\n\n", strings.Join(append([]string{"go run ./bench"}, args...), " "))
	fmt.Fprintf(w, "Machine: %s, %d CPUs (GOMAXPROCS %d), %s/%s, %s. ", m.cpu, m.numCPU, m.gomaxprocs, m.goos, m.goarch, m.goversion)
	fmt.Fprintf(w, "Taken %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Median of %d runs of each benchmark; the spread is the lowest and highest run.\n\n", runs)
	fmt.Fprintf(w, "| benchmark | median | spread | allocs/op | against |\n|---|---|---|---|---|\n")
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.name] = r
	}
	for _, r := range rows {
		against := ""
		if base, ok := byName[r.base]; ok && r.base != "" {
			against = fmt.Sprintf("%.2f × %s", median(r.ns)/median(base.ns), r.base)
		}
		fmt.Fprintf(w, "| %s (%s) | %s | %s – %s | %.0f | %s |\n",
			r.name, r.what, fmtNs(median(r.ns)), fmtNs(slices.Min(r.ns)), fmtNs(slices.Max(r.ns)), median(r.allocs), against)
	}
	fmt.Fprintf(w, "\nNot measured by this program yet (see the other sections of docs/benchmarks.md "+
		"for their go test commands): native and process patches, file event to served, "+
		"the baseline step, hotpatch dev against rebuild-and-restart, the example server's "+
		"throughput with its handlers behind slots against direct calls, memory per version.\n")
}

// svgChart draws the median time per op of the call benchmarks as
// horizontal bars on a log scale, since they span four orders of magnitude.
func svgChart(rows []row) []byte {
	var calls []row
	for _, r := range rows {
		if r.call {
			calls = append(calls, r)
		}
	}
	const (
		left, barMax, barH, gap, top = 260, 420, 22, 8, 40
	)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range calls {
		v := math.Log10(median(r.ns))
		lo, hi = min(lo, v), max(hi, v)
	}
	lo = math.Floor(lo) - 1 // so the fastest bar is still visible
	hi = math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	height := top + len(calls)*(barH+gap) + 20
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+barMax+120, height)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">Call overhead: median time per call (log scale)</text>`+"\n")
	for i, r := range calls {
		y := top + i*(barH+gap)
		wdt := (math.Log10(median(r.ns)) - lo) / (hi - lo) * barMax
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, xmlEscape(r.name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a78b0"/>`+"\n", left, y, wdt, barH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(left)+wdt+6, y+barH-6, xmlEscape(fmtNs(median(r.ns))))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
