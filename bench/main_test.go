package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeOutputs maps a -bench pattern of goBenches to a file of recorded
// go test output (one run of each benchmark) in testdata.
var fakeOutputs = map[string]string{
	"NativeCall": "native-call.txt",
	"ProcessCall/^(hotpatch|unix-socket-floor)$/^serial$": "process-call.txt",
	"NativeLoad$":   "native-load.txt",
	"ProcessSwap":   "process-swap.txt",
	"WatchToServed": "watch.txt",
	"BaselineStep":  "baseline.txt",
	"DevLoop":       "dev.txt",
	"NativeMemory":  "native-memory.txt",
}

// fakeEnv answers go test with the recorded outputs and starts two
// in-process servers in place of the example, so that the test runs the
// whole program in seconds (the real commands build plugins for minutes);
// the in-process cases and the load run for real.
func fakeEnv(t *testing.T) (env, *[][]string) {
	var calls [][]string
	e := env{
		root: t.TempDir(),
		goTest: func(ctx context.Context, dir string, args []string) ([]byte, error) {
			calls = append(calls, args)
			i := strings.Index(strings.Join(args, " "), "-bench ")
			if i < 0 || len(args) < 5 {
				return nil, fmt.Errorf("unexpected go %q", args)
			}
			name, ok := fakeOutputs[args[4]]
			if !ok {
				return nil, fmt.Errorf("no recorded output for -bench %q", args[4])
			}
			return os.ReadFile(filepath.Join("testdata", name))
		},
		startExample: func(ctx context.Context, root, dir string, direct bool) (*exampleServer, error) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %v", r.URL, direct)
			}))
			return &exampleServer{url: srv.URL, pid: os.Getpid(), stop: func() error { srv.Close(); return nil }}, nil
		},
	}
	return e, &calls
}

// TestRun runs the whole report once, quickly, and checks that every row
// is there with figures, that the charts are well-formed SVG, and that
// -write replaces only what lies between the markers.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	const before, after = "# Benchmarks\n\nHand-written analysis.\n\n", "\n\n## More analysis\n\nKept.\n"
	if err := os.WriteFile(doc, []byte(before+markBegin+"\nold report\n"+markEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
	e, calls := fakeEnv(t)
	var stdout bytes.Buffer
	args := []string{"-quick", "-runs", "1", "-benchtime", "5x", "-round", "50ms", "-clients", "2", "-write", doc, "-svgdir", dir}
	if err := run(context.Background(), args, &stdout, e); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("with -write, stdout got %q, want nothing", stdout.String())
	}
	if len(*calls) != len(fakeOutputs) {
		t.Errorf("go was run %d times, want %d: %q", len(*calls), len(fakeOutputs), *calls)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if !strings.HasPrefix(out, before+markBegin+"\n") || !strings.HasSuffix(out, markEnd+after) || strings.Contains(out, "old report") {
		t.Errorf("-write did not replace exactly the part between the markers:\n%s", out)
	}
	for _, want := range []string{"go run ./bench " + strings.Join(args, " "), "GOMAXPROCS", "go1.", "the whole run took",
		"Headlines", "A call through a slot", "script ", "native ", "process ", "Apply latency: manual", "File event to served", "Baseline step: ", "hotpatch dev: ", "1 % target", "Its server CPU time per request", "Memory: "} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(out, bad) {
			t.Errorf("report contains %q:\n%s", bad, out)
		}
	}
	for _, g := range groups {
		if !strings.Contains(out, "### "+g.title) {
			t.Errorf("report has no part %q", g.title)
		}
	}

	// Every row: the in-process ones, those from go test and the load.
	c, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	var want []row
	for _, bc := range (&fixture{}).cases() {
		want = append(want, bc.row)
	}
	for _, g := range goBenches(c) {
		for _, mr := range g.rows {
			want = append(want, mr.row)
		}
	}
	for _, name := range []string{"per script version", "with slots", "direct handlers", "slots against direct", "failed requests under load",
		"server CPU per request, with slots", "server CPU per request, direct", "CPU per request, slots against direct"} {
		want = append(want, row{name: name})
	}
	inCharts := map[string]int{}
	for _, r := range want {
		line := ""
		for l := range strings.Lines(out) {
			if strings.HasPrefix(l, "| **"+r.name+"**: ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("report has no row %q", r.name)
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 8 || strings.TrimSpace(cells[2]) == "" || !strings.Contains(cells[3], " – ") {
			t.Errorf("row %q has no median or spread: %q", r.name, line)
		}
		if r.base != "" && !strings.Contains(cells[5], "× "+r.base) {
			t.Errorf("row %q is not compared with %q: %q", r.name, r.base, line)
		}
		inCharts[r.chart]++
	}

	for _, ch := range charts {
		if bars := svgBars(t, filepath.Join(dir, ch.file)); bars != inCharts[ch.name] {
			t.Errorf("%s has %d bars, want %d (its rows)", ch.file, bars, inCharts[ch.name])
		}
	}
}

// svgBars checks that the file is well-formed XML and counts its bars.
func svgBars(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bars := 0
	for d := xml.NewDecoder(f); ; {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return bars
		}
		if err != nil {
			t.Fatalf("%s is not well-formed: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" && len(se.Attr) > 0 && se.Attr[0].Value != "100%" {
			bars++
		}
	}
}

// TestRunOnly checks that -only measures only the parts it names and that
// a chart none of whose rows ran is not written.
func TestRunOnly(t *testing.T) {
	e, calls := fakeEnv(t)
	dir := t.TempDir()
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-runs", "1", "-only", "baseline, dev", "-svgdir", dir}, &stdout, e); err != nil {
		t.Fatal(err)
	}
	if len(*calls) != 2 {
		t.Errorf("go was run %d times, want 2: %q", len(*calls), *calls)
	}
	out := stdout.String()
	if !strings.Contains(out, "### Baseline step") || !strings.Contains(out, "| **rebuild-restart**: ") || strings.Contains(out, "### Calls") {
		t.Errorf("-only baseline,dev reported:\n%s", out)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("-svgdir got %v, want no chart", files)
	}
}

// TestRunFailed checks that a part that fails is reported, that the
// others still are, and that nothing is written into the docs.
func TestRunFailed(t *testing.T) {
	e, _ := fakeEnv(t)
	ok := e.goTest
	e.goTest = func(ctx context.Context, dir string, args []string) ([]byte, error) {
		if args[4] != "BaselineStep" {
			return ok(ctx, dir, args)
		}
		return []byte("--- FAIL: BenchmarkBaselineStep\n    bench_test.go:12: 3 requests failed\nFAIL\n"), errors.New("exit status 1")
	}
	doc := filepath.Join(t.TempDir(), "benchmarks.md")
	orig := "x\n" + markBegin + "\nold\n" + markEnd + "\n"
	if err := os.WriteFile(doc, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-runs", "1", "-benchtime", "5x", "-only", "baseline,memory", "-write", doc}, &stdout, e)
	if err == nil || !strings.Contains(err.Error(), "3 requests failed") || !strings.Contains(err.Error(), "was not written") {
		t.Errorf("run = %v, want the failure of the benchmark", err)
	}
	if out := stdout.String(); !strings.Contains(out, "### Failed in this run") || !strings.Contains(out, "| **per script version**: ") || !strings.Contains(out, "| **per native patch**: ") {
		t.Errorf("stdout lacks the failure or the other part:\n%s", out)
	}
	if b, _ := os.ReadFile(doc); string(b) != orig {
		t.Errorf("a failed run rewrote %s:\n%s", doc, b)
	}
}

func TestRunBadFlags(t *testing.T) {
	e, _ := fakeEnv(t)
	noMarkers := filepath.Join(t.TempDir(), "plain.md")
	if err := os.WriteFile(noMarkers, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-runs", "0"}, "need at least 1 run"},
		{[]string{"-benchtime", "soon"}, `-benchtime "soon"`},
		{[]string{"extra"}, "bench takes only flags"},
		{[]string{"-only", "calls,speed"}, `no part "speed"; the parts are calls,apply,`},
		{[]string{"-only", ","}, "names no part"},
		{[]string{"-clients", "0"}, "must be positive"},
		{[]string{"-round", "-1s"}, "must be positive"},
		{[]string{"-runs", "1", "-only", "baseline", "-write", noMarkers}, "no <!-- bench:begin --> ... <!-- bench:end --> markers"},
		{[]string{"-runs", "1", "-only", "baseline", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x.md")}, "write -o"},
	} {
		err := run(context.Background(), tc.args, io.Discard, e)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
pkg: github.com/hotpatch-go/hotpatch/loader/script
BenchmarkWatchToServed/debounce=100ms-2   	      20	 101700000 ns/op	       101.7 p50-ms	       285.0 p99-ms
    watch_bench_test.go:80: a log line
BenchmarkWatchToServed/debounce=100ms-2   	      20	 1.5e+08 ns/op	       99.5 p50-ms	       250 p99-ms
BenchmarkProcessCall/unix-socket-floor/serial-2	44000	26712 ns/op	2 allocs/op
BenchmarkOne 	 5	 7 ns/op
PASS
`)
	res, err := parseBench(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bench, metric string
		want          []float64
	}{
		{"BenchmarkWatchToServed/debounce=100ms", "p50-ms", []float64{101.7, 99.5}},
		{"BenchmarkWatchToServed/debounce=100ms", "ns/op", []float64{101700000, 1.5e8}},
		{"BenchmarkProcessCall/unix-socket-floor/serial", "allocs/op", []float64{2}},
		{"BenchmarkOne", "ns/op", []float64{7}}, // GOMAXPROCS 1: no suffix
	} {
		if got := res[tc.bench][tc.metric]; fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.bench, tc.metric, got, tc.want)
		}
	}
	for _, bad := range []string{"PASS\nok x 1s\n", "BenchmarkX-2 1 5 ns/op\n--- FAIL: BenchmarkX\nFAIL\n"} {
		if _, err := parseBench([]byte(bad)); err == nil {
			t.Errorf("parseBench(%q) = nil error", bad)
		}
	}

	// A row whose metric is missing, or has fewer runs than -count, is an error.
	e, _ := fakeEnv(t)
	g := goBench{group: "x", pkg: "./p/", bench: "NativeCall", benchtime: "1x", count: 2,
		rows: []metricRow{{bench: "BenchmarkNativeCall/direct", metric: "ns/op", scale: 1}}}
	if _, err := runGoBench(context.Background(), e, g); err == nil || !strings.Contains(err.Error(), "want 2 (one per run)") {
		t.Errorf("2 runs wanted, 1 given: %v", err)
	}
	g.count, g.rows[0].metric = 1, "p50-ms"
	if _, err := runGoBench(context.Background(), e, g); err == nil || !strings.Contains(err.Error(), "p50-ms of BenchmarkNativeCall/direct") {
		t.Errorf("missing metric: %v", err)
	}
}

func TestHeadlineTarget(t *testing.T) {
	for _, tc := range []struct {
		diff float64
		want string
	}{{-3, "slower than the 1 % target allows"}, {-0.5, "within the 1 % target"}, {0.5, "within the 1 % target"}, {4, "no slower, so within"}} {
		r := row{name: "slots against direct", unit: unitPercent, vals: []float64{tc.diff}}
		hl := strings.Join(headlines(map[string]row{r.name: r}), "\n")
		if !strings.Contains(hl, tc.want) {
			t.Errorf("a difference of %v %%: %q, want %q", tc.diff, hl, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{4, 1, 3, 2, 5}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.75, 4}, {1, 5}} {
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", v, tc.q, got, tc.want)
		}
	}
	if got := quantile([]float64{1, 2}, 0.25); got != 1.25 {
		t.Errorf("quantile([1 2], 0.25) = %v, want 1.25", got)
	}
}

func TestRewrite(t *testing.T) {
	report := []byte("new\n")
	for _, tc := range []struct{ doc, want, err string }{
		{"a\n" + markBegin + "\nold\n" + markEnd + "\nb\n", "a\n" + markBegin + "\n\nnew\n\n" + markEnd + "\nb\n", ""},
		{markBegin + markEnd, markBegin + "\n\nnew\n\n" + markEnd, ""},
		{"a\n", "", "no <!-- bench:begin -->"},
		{markEnd + "\n" + markBegin, "", "comes before"},
		{markBegin + markEnd + markBegin + markEnd, "", "each appear once"},
	} {
		got, err := rewrite([]byte(tc.doc), report)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("rewrite(%q) = %v, want an error containing %q", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("rewrite(%q) = %q, %v; want %q", tc.doc, got, err, tc.want)
		}
	}
}

// TestExampleServer runs the real example server twice (with slots and
// -direct) under a short load: the build takes a while, hence not -short.
func TestExampleServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/httpserver")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := env{root: root, startExample: startExample}
	rows, err := measureHTTP(context.Background(), e, httpConfig{clients: 2, round: 100 * time.Millisecond, pairs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("got %d rows, want 7", len(rows))
	}
	for _, r := range rows {
		if len(r.vals) != 2 {
			t.Errorf("row %q has %d figures, want one per pair", r.name, len(r.vals))
		}
	}
	if f := rows[3]; f.name != "failed requests under load" || f.vals[0]+f.vals[1] != 0 {
		t.Errorf("failed requests: %+v", f)
	}
}

// TestRunApart runs the load one server after the other (ABBA).
func TestRunApart(t *testing.T) {
	e, _ := fakeEnv(t)
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-only", "http", "-apart", "-pairs", "2", "-round", "20ms", "-clients", "1"}, &stdout, e); err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "2 pairs, ABBA") || !strings.Contains(out, "| **slots against direct**: ") {
		t.Errorf("-apart reported:\n%s", out)
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if d, ok := procCPU(os.Getpid()); !ok || d < 0 {
		t.Errorf("procCPU(self) = %v, %v", d, ok)
	}
	if _, ok := procCPU(-1); ok {
		t.Error("procCPU(-1) reads something")
	}
}
