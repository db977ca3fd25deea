//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// fixtures are the executables and patches the load test needs, built
// once in TestMain: the server as a baseline (hotpatch build, with the
// test binary's flags, -race included), the native patch built against
// it, and the process patch.
var fixtures struct {
	server, so, proc string
	sampleSO         string // native.sample/search_native.go
	sampleProc       string // patches.sample/price_clearance.go as a process patch
	err              error  // why they could not be built; the tests that need them fail with it
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if testing.Short() {
		fixtures.err = errors.New("not built under -short")
		return m.Run()
	}
	// A server's new process (the baseline step) is re-parented to the
	// test binary when the old one exits, so that the test can wait for it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "grpcserver-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fixtures.err = buildFixtures(dir)
	return m.Run()
}

func buildFixtures(dir string) error {
	hotpatch := filepath.Join(dir, "hotpatch")
	if err := testbuild.Build("../..", hotpatch, "./cmd/hotpatch"); err != nil {
		return err
	}
	run := func(args ...string) error {
		cmd := exec.Command(hotpatch, args...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", cmd, err, msg)
		}
		return nil
	}
	server := filepath.Join(dir, "grpcserver")
	so, proc := filepath.Join(dir, "mark.so"), filepath.Join(dir, "mark.proc")
	sampleSO, sampleProc := filepath.Join(dir, "search_native.so"), filepath.Join(dir, "price_clearance.proc")
	procErr := make(chan error, 1)
	go func() {
		err := run("patch", "build", "--kind", "process", "-o", proc, "testdata/process/mark.go")
		if err == nil {
			err = run("patch", "build", "--kind", "process", "-o", sampleProc, "patches.sample/price_clearance.go")
		}
		procErr <- err
	}()
	err := run(append(append([]string{"build", "-o", server}, testbuild.Flags()...), ".")...)
	if err == nil {
		err = run("patch", "build", "--baseline", server, "-o", so, "testdata/native/mark.go")
	}
	if err == nil {
		err = run("patch", "build", "--baseline", server, "-o", sampleSO, "native.sample/search_native.go")
	}
	if err := errors.Join(err, <-procErr); err != nil {
		return err
	}
	fixtures.server, fixtures.so, fixtures.proc = server, so, proc
	fixtures.sampleSO, fixtures.sampleProc = sampleSO, sampleProc
	return nil
}

// child is the server running as a process of its own, and the process
// that replaced it after a baseline step.
type child struct {
	t    *testing.T
	dir  string      // the patch directory
	logs *syncBuffer // both processes' standard error
	cmd  *exec.Cmd
	addr string

	mu      sync.Mutex // guards serving
	serving []int      // the pids of the "serving" lines, in order
	copied  chan struct{}

	waitOnce sync.Once
	waitErr  error // of cmd.Wait
}

// wait waits for the first process to exit.
func (c *child) wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

var servingLine = regexp.MustCompile(`msg=serving addr=(\S+) .* pid=(\d+)`)

func startChild(t *testing.T) *child {
	t.Helper()
	if fixtures.err != nil {
		t.Fatalf("the fixtures: %v", fixtures.err)
	}
	c := &child{t: t, dir: filepath.Join(t.TempDir(), "patches"), logs: &syncBuffer{}, copied: make(chan struct{})}
	c.cmd = exec.Command(fixtures.server, "-addr", "127.0.0.1:0", "-patches", c.dir, "-debounce", "20ms")
	// A pipe of our own, not StderrPipe: Wait closes that one, and the
	// process that replaces the first after a baseline step writes to the
	// same standard error once the first is gone.
	stderr, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = w
	err = c.cmd.Start()
	w.Close()
	if err != nil {
		stderr.Close()
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(c.copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.logs.Write([]byte(sc.Text() + "\n"))
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[2])
				c.mu.Lock()
				c.serving = append(c.serving, pid)
				c.mu.Unlock()
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		stderr.Close()
	}()
	t.Cleanup(c.stop)
	select {
	case c.addr = <-addrc:
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not start:\n%s", c.logs)
	}
	return c
}

// pid is the pid of the process that serves now.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serving[len(c.serving)-1]
}

// stop stops the serving process with SIGTERM and waits for every
// process of the server to exit.
func (c *child) stop() {
	t := c.t
	pid := c.pid()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM to %d: %v", pid, err)
	}
	done := make(chan error, 1)
	go func() {
		err := c.wait() // the first process; it exited already after a step
		if pid != c.cmd.Process.Pid {
			// A process the step started: a child of the first, re-parented
			// to the test binary (the subreaper) when that one exited.
			var ws unix.WaitStatus
			if _, werr := unix.Wait4(pid, &ws, 0, nil); werr != nil {
				err = errors.Join(err, fmt.Errorf("waiting for %d: %w", pid, werr))
			} else if ws.Signaled() || ws.ExitStatus() != 0 {
				err = errors.Join(err, fmt.Errorf("process %d: exit status %d, signal %v", pid, ws.ExitStatus(), ws.Signal()))
			}
		}
		<-c.copied
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the server's exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		c.cmd.Process.Kill()
		t.Errorf("the server did not stop on SIGTERM")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", c.logs)
	}
}

// origin is who produced a note: "patched:KIND..." for the load test's
// patches, "baseline" for the compiled-in logic.
func origin(note string) string {
	if strings.HasPrefix(note, "patched:") {
		return note
	}
	return "baseline"
}

// load is the traffic of TestLoad: unary callers and stream callers,
// each counting what it got.
type load struct {
	inv     inventorypb.InventoryClient
	swaps   atomic.Int64 // changes of version the driver saw served
	calls   atomic.Int64 // unary calls that succeeded
	streams atomic.Int64 // streams that succeeded
	spanned atomic.Int64 // streams during which the version changed
	mu      sync.Mutex   // guards failures
	failed  []string
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, fmt.Sprintf(format, args...))
}

// rounds makes each stream send 12*rounds findings, so that streams are
// in flight across the swaps.
const rounds = 40

func (l *load) unary(ctx context.Context, n int) {
	skus := []string{"BLT-M6-20", "DRL-18V", "TAPE-DUCT", "GGL-CLR"}
	for i := 0; ctx.Err() == nil; i++ {
		if i%4 == 3 {
			r, err := l.inv.Search(ctx, &inventorypb.SearchRequest{})
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				l.fail("caller %d: Search: %v", n, err)
			case len(r.Items) != 12:
				l.fail("caller %d: Search: %d items", n, len(r.Items))
			default:
				l.calls.Add(1)
			}
			continue
		}
		q, err := l.inv.Quote(ctx, &inventorypb.QuoteRequest{Sku: skus[i%len(skus)], Qty: int32(1 + i%200)})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.fail("caller %d: Quote: %v", n, err)
		case q.TotalCents <= 0 || q.Sku != skus[i%len(skus)]:
			l.fail("caller %d: Quote: %v", n, q)
		default:
			l.calls.Add(1)
		}
	}
}

func (l *load) stream(ctx context.Context, n int) {
	for ctx.Err() == nil {
		before := l.swaps.Load()
		s, err := l.inv.Audit(ctx, &inventorypb.AuditRequest{Rounds: rounds})
		if err != nil {
			if ctx.Err() == nil {
				l.fail("stream %d: Audit: %v", n, err)
			}
			return
		}
		var got []string // the origins seen, in order, without repeats
		seq := int32(0)
		for {
			f, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					l.fail("stream %d: after %d findings: %v", n, seq, err)
				}
				return
			}
			if f.Seq != seq {
				l.fail("stream %d: finding %d has seq %d", n, seq, f.Seq)
			}
			if o := origin(f.Note); len(got) == 0 || got[len(got)-1] != o {
				got = append(got, o)
			}
			seq++
		}
		if seq != 12*rounds || len(got) != 1 {
			l.fail("stream %d: %d findings (want %d) from %q: a stream must run on one version", n, seq, 12*rounds, got)
			continue
		}
		l.streams.Add(1)
		if l.swaps.Load() > before+1 {
			l.spanned.Add(1) // the version changed at least once while it ran
		}
	}
}

// TestLoad runs the server as a process of its own, with 8 unary callers
// and 8 stream callers on one connection, while 30 patches (10 of each
// kind) are applied and removed in turn and one baseline step is taken:
// no call fails, and every stream runs on one version from its first
// finding to its last.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server, a native patch and a process patch")
	}
	c := startChild(t)
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := &load{inv: inventorypb.NewInventoryClient(conn)}
	probe := func() string {
		q, err := l.inv.Quote(context.Background(), &inventorypb.QuoteRequest{Sku: "NUT-M6", Qty: 1})
		if err != nil {
			return "error: " + err.Error()
		}
		return origin(q.Note)
	}
	waitFor(t, "the baseline", func() bool { return probe() == "baseline" })

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { l.unary(ctx, i) })
		wg.Go(func() { l.stream(ctx, i) })
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	defer stopLoad()

	so, err := os.ReadFile(fixtures.so)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := os.ReadFile(fixtures.proc)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(want string) {
		t.Helper()
		waitFor(t, want+" to serve", func() bool { return probe() == want })
		l.swaps.Add(1)
	}
	apply := func(i int) string {
		switch i % 3 {
		case 0:
			mark := fmt.Sprintf("patched:script-%d", i)
			drop(t, c.dir, "mark.go", []byte(strings.ReplaceAll(scriptMark, "MARK", mark)))
			serve(mark)
			return "mark.go"
		case 1:
			drop(t, c.dir, "mark.so", so)
			serve("patched:native")
			return "mark.so"
		default:
			drop(t, c.dir, "mark.proc", proc)
			serve("patched:process")
			return "mark.proc"
		}
	}
	const patches = 30
	for i := range patches {
		name := apply(i)
		if err := os.Remove(filepath.Join(c.dir, name)); err != nil {
			t.Fatal(err)
		}
		serve("baseline")
	}

	// The baseline step, with a script applied: the new process applies
	// it again before it serves; streams on the old one finish there.
	drop(t, c.dir, "mark.go", []byte(strings.ReplaceAll(scriptMark, "MARK", "patched:script-step")))
	serve("patched:script-step")
	first := c.pid()
	if err := syscall.Kill(first, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the baseline step", func() bool { return strings.Contains(c.logs.String(), "event=baseline-step") })
	waitFor(t, "a new process", func() bool { return c.pid() != first })
	if err := c.wait(); err != nil {
		t.Errorf("the old process after the step: %v", err)
	}
	if got := probe(); got != "patched:script-step" {
		t.Errorf("after the step: %s serves, want the script applied again", got)
	}
	// Calls and streams go on against the new process.
	calls, streams := l.calls.Load(), l.streams.Load()
	waitFor(t, "calls and streams on the new process", func() bool {
		return l.calls.Load() > calls+100 && l.streams.Load() > streams+8
	})
	if err := os.Remove(filepath.Join(c.dir, "mark.go")); err != nil {
		t.Fatal(err)
	}
	serve("baseline")
	stopLoad()

	t.Logf("%d patches applied and removed, one baseline step: %d unary calls, %d streams (%d findings each; %d spanned a change of version), %d failed",
		patches, l.calls.Load(), l.streams.Load(), 12*rounds, l.spanned.Load(), len(l.failed))
	for i, f := range l.failed {
		if i == 10 {
			t.Errorf("... and %d more", len(l.failed)-10)
			break
		}
		t.Error(f)
	}
	if l.spanned.Load() == 0 {
		t.Error("no stream ran across a change of version: the test proves nothing about streams; make them longer")
	}
}

// scriptMark is the load test's script patch; MARK is replaced by its
// version's note.
const scriptMark = `package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

//hotpatch:slot inventory.Price
func Price(it stock.Item, qty int) stock.Quote {
	q := stock.Price(it, qty)
	q.Note = "MARK"
	return q
}

//hotpatch:slot inventory.Audit
func Audit(items []stock.Item) []stock.Finding {
	out := stock.Audit(items)
	for i := range out {
		out[i].Note = "MARK"
	}
	return out
}
`

// TestSamples follows the README's native and process tours: the native
// sample built against the baseline, a sample script built as a process
// patch, and garbage in place of each.
func TestSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and patches")
	}
	c := startChild(t)
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv := inventorypb.NewInventoryClient(conn)
	search := func(q string) int {
		r, err := inv.Search(context.Background(), &inventorypb.SearchRequest{Query: q})
		if err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
		return len(r.Items)
	}
	quote := func() string {
		q, err := inv.Quote(context.Background(), &inventorypb.QuoteRequest{Sku: "TAPE-DUCT", Qty: 10})
		if err != nil {
			t.Fatalf("Quote: %v", err)
		}
		return q.Note
	}
	if n := search("under 5"); n != 0 {
		t.Fatalf("baseline: Search(under 5) found %d items", n)
	}
	so, err := os.ReadFile(fixtures.sampleSO)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := os.ReadFile(fixtures.sampleProc)
	if err != nil {
		t.Fatal(err)
	}
	path := drop(t, c.dir, "search.so", so)
	waitFor(t, "the native search", func() bool { return search("under 5") == 5 })
	drop(t, c.dir, "price.proc", proc)
	waitFor(t, "the clearance from a process", func() bool { return strings.Contains(quote(), "supplies clearance") })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the baseline search", func() bool { return search("under 5") == 0 })

	// Garbage is refused, and what served keeps serving.
	drop(t, c.dir, "junk.so", []byte("this is not an ELF file"))
	drop(t, c.dir, "junk.proc", []byte("#!/bin/sh\necho not a plugin\n"))
	waitFor(t, "both refusals", func() bool {
		logs := c.logs.String()
		return strings.Contains(logs, "junk.so") && strings.Contains(logs, "not a native patch") &&
			strings.Count(logs, "event=rejected") >= 2
	})
	if !strings.Contains(quote(), "supplies clearance") || search("under 5") != 0 {
		t.Errorf("after the refusals: %q, Search(under 5) = %d", quote(), search("under 5"))
	}
}
