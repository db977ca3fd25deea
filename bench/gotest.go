package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// goBench is one go test invocation whose benchmark lines give rows: what
// needs a build against a binary, another process or a server (native and
// process patches, the baseline step, hotpatch dev, the patch directory's
// watch) is measured by the benchmarks of its own package, built and run
// as go test builds them, with -count runs.
type goBench struct {
	group     string
	pkg       string // a package path relative to the module root, such as ./loader/native/
	bench     string // the -bench pattern
	benchtime string // the -benchtime
	count     int
	rows      []metricRow
}

// metricRow takes one metric of one benchmark, in each of the -count runs,
// as the values of a row.
type metricRow struct {
	bench  string  // the benchmark's full name, without the -GOMAXPROCS suffix
	metric string  // the unit of its figure on the benchmark line: ns/op, p50-ms, ...
	scale  float64 // multiplies the figure into the row's unit
	allocs bool    // also take allocs/op
	row
}

func (g goBench) args() []string {
	return []string{"test", "-run", "^$", "-bench", g.bench, "-benchtime", g.benchtime, "-count", strconv.Itoa(g.count), g.pkg}
}

// command is how the report names the invocation.
func (g goBench) command() string {
	a := g.args()
	a[2], a[4] = "'"+a[2]+"'", "'"+a[4]+"'"
	return "go " + strings.Join(a, " ")
}

// goTest runs the go command in dir and returns its output.
func goTest(ctx context.Context, dir string, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	// Interrupted, go test stops its test binary and cleans up; killed, it
	// could leave the binary running.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// runGoBench runs g and takes its rows from the output.
func runGoBench(ctx context.Context, e env, g goBench) ([]row, error) {
	out, err := e.goTest(ctx, e.root, g.args())
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", g.command(), err, tail(out, 40))
	}
	res, err := parseBench(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.command(), err)
	}
	rows := make([]row, 0, len(g.rows))
	for _, mr := range g.rows {
		r := mr.row
		r.group, r.source = g.group, g.command()
		vals := res[mr.bench][mr.metric]
		if len(vals) != g.count {
			return nil, fmt.Errorf("%s: the output has %d figures in %s of %s, want %d (one per run):\n%s",
				g.command(), len(vals), mr.metric, mr.bench, g.count, tail(out, 40))
		}
		for _, v := range vals {
			r.vals = append(r.vals, v*mr.scale)
		}
		if mr.allocs {
			r.allocs = res[mr.bench]["allocs/op"]
			if len(r.allocs) != g.count {
				return nil, fmt.Errorf("%s: the output has %d allocs/op figures of %s, want %d", g.command(), len(r.allocs), mr.bench, g.count)
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// benchLine matches a result line of go test -bench: the name (with the
// -GOMAXPROCS suffix when it is not 1), the iterations, then pairs of a
// figure and its unit.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)((?:\s+[-+0-9.eE]+\s+\S+)+)\s*$`)

// parseBench reads the result lines of go test -bench output: for each
// benchmark, each unit's figures in the order of the runs. Other lines
// (goos, pkg, PASS, logs) are skipped; a FAIL is an error.
func parseBench(out []byte) (map[string]map[string][]float64, error) {
	res := map[string]map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") {
			return nil, fmt.Errorf("a benchmark failed: %q\n%s", line, tail(out, 40))
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		if res[m[1]] == nil {
			res[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: figure %q: %w", line, f[i], err)
			}
			res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no benchmark result in the output:\n%s", tail(out, 40))
	}
	return res, sc.Err()
}

// tail returns the last n lines of out, for an error message.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
