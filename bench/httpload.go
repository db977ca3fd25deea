package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// httpConfig is the load on the example server.
type httpConfig struct {
	clients int           // keep-alive clients, each one request at a time
	round   time.Duration // one round of load on one server
	pairs   int           // pairs of rounds, one on each server
	apart   bool          // rounds one after the other (ABBA), not both at once
}

// exampleServer is a running examples/httpserver.
type exampleServer struct {
	url  string
	pid  int          // its process, whose CPU time is read
	stop func() error // ends it and waits for it
}

// The requests of the load, in turn: every endpoint whose logic is a slot.
var loadPaths = []string{
	"/greet?name=ann",
	"/price?isbn=9780441013593&qty=12",
	"/books?q=dune",
	"/recommend?isbn=9780441013593&n=3",
}

// measureHTTP loads the example server with its handlers behind slots
// (A) and with the same handlers calling the compiled logic directly
// (B, -direct), both running at once, in rounds ABBA ABBA ... so that a
// drift of the machine's load falls on both alike. Each round sends
// requests from c.clients keep-alive clients for c.round.
func measureHTTP(ctx context.Context, e env, c httpConfig) ([]row, error) {
	tmp, err := os.MkdirTemp("", "hotpatch-bench-http-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var servers [2]*exampleServer
	for i, direct := range []bool{false, true} {
		s, err := e.startExample(ctx, e.root, filepath.Join(tmp, fmt.Sprint(i)), direct)
		if err != nil {
			return nil, err
		}
		defer s.stop()
		servers[i] = s
	}
	// A first short round on each warms the connections and the caches.
	for _, s := range servers {
		if _, _, _, err := load(ctx, s.url, c.clients, min(c.round, 500*time.Millisecond)); err != nil {
			return nil, err
		}
	}
	slots := row{group: "http", name: "with slots", unit: unitRate,
		what: fmt.Sprintf("requests/s of examples/httpserver as it is (hp.Handler and a slot per endpoint), %d keep-alive clients for %v per round, GET /greet, /price, /books, /recommend in turn", c.clients, c.round)}
	direct := row{group: "http", name: "direct handlers", unit: unitRate,
		what: "the same server with -direct: the same handlers calling the compiled logic, no slot, no hp.Handler"}
	diff := row{group: "http", name: "slots against direct", unit: unitPercent,
		what: fmt.Sprintf("(with slots / direct − 1) of each pair of rounds; target: within 1 %%; %d pairs, %s", c.pairs, map[bool]string{false: "both servers loaded at once", true: "ABBA"}[c.apart])}
	fails := row{group: "http", name: "failed requests under load", unit: unitCount, what: "requests that failed or did not answer 200, over both servers, per pair"}
	cpuSlots := row{group: "http", name: "server CPU per request, with slots", unit: unitNs,
		what: "CPU time (user and system) of the server process during a round, per request answered: less sensitive than requests/s to what else runs on the machine"}
	cpuDirect := row{group: "http", name: "server CPU per request, direct", unit: unitNs, base: "server CPU per request, with slots",
		what: "the same for the -direct server"}
	cpuDiff := row{group: "http", name: "CPU per request, slots against direct", unit: unitPercent,
		what: "(with slots / direct − 1) of each pair's CPU time per request"}
	for p := range c.pairs {
		order := []int{0, 1}
		if p%2 == 1 {
			order = []int{1, 0}
		}
		var res [2]roundResult
		if !c.apart {
			// Both at once: whatever else the machine does falls on both.
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() { res[i] = loadRound(ctx, servers[i], c) })
			}
			wg.Wait()
		} else {
			for _, i := range order {
				res[i] = loadRound(ctx, servers[i], c)
			}
		}
		if err := errors.Join(res[0].err, res[1].err); err != nil {
			return nil, err
		}
		rate := [2]float64{res[0].rate, res[1].rate}
		cpu := [2]float64{res[0].cpu, res[1].cpu}
		failed, cpuOK := res[0].failed+res[1].failed, res[0].cpuOK && res[1].cpuOK
		slots.vals = append(slots.vals, rate[0])
		direct.vals = append(direct.vals, rate[1])
		diff.vals = append(diff.vals, (rate[0]/rate[1]-1)*100)
		fails.vals = append(fails.vals, float64(failed))
		if cpuOK {
			cpuSlots.vals = append(cpuSlots.vals, cpu[0])
			cpuDirect.vals = append(cpuDirect.vals, cpu[1])
			cpuDiff.vals = append(cpuDiff.vals, (cpu[0]/cpu[1]-1)*100)
		}
	}
	rows := []row{slots, direct, diff, fails}
	if len(cpuSlots.vals) == c.pairs { // not where the process's CPU time cannot be read
		rows = append(rows, cpuSlots, cpuDirect, cpuDiff)
	}
	for i := range rows {
		r := &rows[i]
		r.source = "go run ./bench: examples/httpserver built by go build, twice started (one with -direct), loaded from this process"
	}
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.stop())
	}
	return rows, errors.Join(errs...)
}

// roundResult is one round of load on one server.
type roundResult struct {
	rate   float64 // good answers per second
	failed int
	cpu    float64 // the server's CPU time per good answer, in ns
	cpuOK  bool    // whether cpu could be read
	err    error
}

func loadRound(ctx context.Context, s *exampleServer, c httpConfig) roundResult {
	cpu0, ok0 := procCPU(s.pid)
	rate, failed, n, err := load(ctx, s.url, c.clients, c.round)
	cpu1, ok1 := procCPU(s.pid)
	return roundResult{rate: rate, failed: failed, cpu: float64(cpu1-cpu0) / float64(max(n, 1)), cpuOK: ok0 && ok1, err: err}
}

// load sends requests to base from clients keep-alive clients for d and
// returns the rate of good answers, how many failed and how many succeeded.
func load(ctx context.Context, base string, clients int, d time.Duration) (rate float64, failed, ok int, err error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex // guards ok, failed and firstErr
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			good, bad := 0, 0
			var why error
			for n := i; ctx.Err() == nil; n++ {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+loadPaths[n%len(loadPaths)], nil)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
					}
				}
				if err != nil {
					bad++
					why = cmp(why, err)
					continue
				}
				good++
			}
			mu.Lock()
			ok, failed, firstErr = ok+good, failed+bad, cmp(firstErr, why)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ok == 0 {
		return 0, failed, 0, fmt.Errorf("load on %s: no request succeeded: %v", base, firstErr)
	}
	return float64(ok) / elapsed.Seconds(), failed, ok, nil
}

// cmp keeps the first error.
func cmp(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// startExample builds examples/httpserver (once per directory) and starts
// it on a free loopback port with a patch directory of its own, -direct
// if asked; it returns once the server logs that it serves.
func startExample(ctx context.Context, root, dir string, direct bool) (*exampleServer, error) {
	bin := filepath.Join(filepath.Dir(dir), "httpserver")
	if _, err := os.Stat(bin); err != nil {
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/httpserver")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./examples/httpserver: %w\n%s", err, out)
		}
	}
	args := []string{"-addr", "127.0.0.1:0", "-patches", filepath.Join(dir, "patches")}
	if direct {
		args = append(args, "-direct")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The log goes on being read (and dropped) until the process ends, so
	// that it never blocks on a full pipe; the lines before serving are
	// kept for an error.
	addr := make(chan string, 1)
	var mu sync.Mutex // guards early
	var early []string
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			l := sc.Text()
			if !sent {
				mu.Lock()
				early = append(early, l)
				mu.Unlock()
				if strings.Contains(l, "msg=serving") {
					if a := logField(l, "addr"); a != "" {
						addr <- a
						sent = true
					}
				}
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { <-logDone; waited <- cmd.Wait() }()
	stopped := false
	var stopErr error
	stop := func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-waited:
			stopErr = err
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			stopErr = fmt.Errorf("examples/httpserver (pid %d) did not stop within a minute of SIGTERM: killed; %v", cmd.Process.Pid, <-waited)
		}
		return stopErr
	}
	select {
	case a := <-addr:
		return &exampleServer{url: "http://" + a, pid: cmd.Process.Pid, stop: stop}, nil
	case err := <-waited:
		stopped, stopErr = true, err
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("examples/httpserver %s ended before serving: %v\n%s", strings.Join(args, " "), err, strings.Join(early, "\n"))
	case <-time.After(time.Minute):
		_ = stop()
		return nil, errors.New("examples/httpserver did not log serving within a minute")
	case <-ctx.Done():
		_ = stop()
		return nil, ctx.Err()
	}
}

// procCPU returns the CPU time, user and system, that process pid has
// used so far, from /proc/PID/stat (in clock ticks of 10 ms, the usual
// USER_HZ of Linux); false where there is no such file.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: count the fields
	// after it. utime and stime are fields 14 and 15 of the line.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// logField returns the value of key=value in a slog text line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}
