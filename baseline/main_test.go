//go:build linux

package baseline_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// bins are the fixture's executables, built once in TestMain: two builds
// (v1, v2) and copies of v1 that misbehave by name.
var bins struct {
	dir                               string
	v1, v2, exit, hang, check, noexec string
	termcheck                         string    // its check ends only once it got SIGTERM
	usr1check                         string    // its check passes on SIGUSR1
	example                           [2]string // examples/httpserver, versions v1 and v2
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getenv("HOTPATCH_DRAIN_REENTRY_CHILD") == "1" {
		return m.Run() // a test's own process: it needs no server binaries
	}
	// Old servers' children are re-parented to the test binary, which can
	// then wait for each server to exit and prove none is left behind.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "baseline-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins.dir = dir
	bins.v1, bins.v2 = filepath.Join(dir, "srv-v1"), filepath.Join(dir, "srv-v2")
	errs := make(chan error, 3)
	for _, v := range []string{"v1", "v2"} {
		go func() {
			errs <- testbuild.Build("testdata/server", filepath.Join(dir, "srv-"+v), ".", "-ldflags=-X main.version="+v)
		}()
	}
	go func() { errs <- buildExamples(dir) }()
	for range 3 {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	data, err := os.ReadFile(bins.v1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, c := range []struct {
		p    *string
		name string
		mode os.FileMode
	}{{&bins.exit, "exit", 0o755}, {&bins.hang, "hang", 0o755}, {&bins.check, "check", 0o755}, {&bins.noexec, "noexec", 0o644}, {&bins.termcheck, "termcheck", 0o755}, {&bins.usr1check, "usr1check", 0o755}} {
		*c.p = filepath.Join(dir, "srv-"+c.name)
		if err := os.WriteFile(*c.p, data, c.mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// buildExamples builds examples/httpserver twice into dir, as versions v1
// and v2, one after the other: the second only links again. Unlike the
// fixture, they are built without -race even under -race: the servers
// load no plugin, so their flags need not match the test binary's, and a
// race-instrumented example takes far longer to build and to start.
func buildExamples(dir string) error {
	flags := slices.DeleteFunc(testbuild.Flags(), func(f string) bool { return f == "-race" })
	for i, v := range []string{"v1", "v2"} {
		bins.example[i] = filepath.Join(dir, "httpserver-"+v)
		args := append([]string{"build", "-o", bins.example[i], "-ldflags=-X main.version=" + v}, flags...)
		cmd := exec.Command(goTool(), append(args, ".")...)
		cmd.Dir = "../examples/httpserver"
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
	}
	return nil
}

// goTool is the go command of the Go that runs the tests.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hang bounds every wait, to report a hang instead of timing out the run.
const hang = 90 * time.Second

// tree is a server started by a test and every process it restarted into.
type tree struct {
	tb       testing.TB
	link     string      // the symbolic link the server was started from
	first    *exec.Cmd   // the first process, a child of the test
	lines    chan string // the servers' standard output, line by line
	seen     []string    // lines read while waiting for others
	cur      int         // the pid serving
	tcp      string      // the TCP address
	sock     string      // the unix socket's path
	stderr   string      // the file the servers' other output goes to
	contains bool        // lines match a pattern anywhere (the example's log), not as a prefix
	mu       sync.Mutex  // guards pids
	pids     map[int]bool
}

// errors returns what the servers wrote to their standard error.
func (t *tree) errors() string {
	b, _ := os.ReadFile(t.stderr)
	return string(b)
}

// startTree starts target through a symbolic link, as a process-group
// leader, so that a failed test can kill the whole tree.
func startTree(tb testing.TB, target string, args ...string) *tree {
	t := launch(tb, target, false, func(sock string) []string { return append([]string{"-unix", sock}, args...) })
	f := t.waitFor("ready ")
	t.cur = field(tb, f, "pid")
	t.tcp = strings.Split(fieldStr(f, "addrs"), ",")[0]
	return t
}

// startExample starts examples/httpserver, which logs to stderr.
func startExample(tb testing.TB, target string) *tree {
	t := launch(tb, target, true, func(string) []string {
		return []string{"-addr", "127.0.0.1:0", "-patches", tb.TempDir()}
	})
	f := t.waitFor("msg=serving")
	t.cur = field(tb, f, "pid")
	t.tcp = fieldStr(f, "addr")
	return t
}

// launch starts target through a symbolic link, with the arguments args
// returns for the unix socket's path, reading its standard output, or its
// standard error if example.
func launch(tb testing.TB, target string, example bool, args func(sock string) []string) *tree {
	dir := tb.TempDir()
	t := &tree{tb: tb, link: filepath.Join(dir, "server"), lines: make(chan string, 256), contains: example,
		pids: map[int]bool{}, sock: filepath.Join(dir, "s.sock"), stderr: filepath.Join(dir, "stderr")}
	if err := os.Symlink(target, t.link); err != nil {
		tb.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(t.link, args(t.sock)...)
	// Files, not writers: every server inherits them, and Wait would
	// wait for the last one to close a pipe.
	ef, err := os.Create(t.stderr)
	if err != nil {
		tb.Fatal(err)
	}
	defer ef.Close()
	cmd.Stdout, cmd.Stderr = pw, ef
	if example {
		cmd.Stdout, cmd.Stderr = ef, pw
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A server built with -race sleeps 1 s at exit for late reports; an
	// old process's exit bounds the next restart, so skip it.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	pw.Close()
	t.first = cmd
	go func() {
		defer close(t.lines)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.lines <- sc.Text()
		}
	}()
	tb.Cleanup(func() {
		if tb.Failed() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.mu.Lock()
			for pid := range t.pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.mu.Unlock()
			_ = cmd.Wait()
			reapAll()
			tb.Logf("servers' other output:\n%s", t.errors())
		}
	})
	return t
}

// waitFor returns the next line that starts with prefix, keeping the
// others in seen.
func (t *tree) waitFor(prefix string) string {
	t.tb.Helper()
	timeout := time.After(hang)
	for {
		select {
		case l, ok := <-t.lines:
			if !ok {
				t.tb.Fatalf("servers' output ended before %q; stderr:\n%s", prefix, t.errors())
			}
			if strings.HasPrefix(l, "started ") {
				t.mu.Lock()
				t.pids[field(t.tb, l, "pid")] = true
				t.mu.Unlock()
			}
			if strings.HasPrefix(l, prefix) || t.contains && strings.Contains(l, prefix) {
				return l
			}
			t.seen = append(t.seen, l)
		case <-timeout:
			t.tb.Fatalf("no %q line within %s; seen %q", prefix, hang, t.seen)
		}
	}
}

func fieldStr(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func field(tb testing.TB, line, key string) int {
	n, err := strconv.Atoi(fieldStr(line, key))
	if err != nil {
		tb.Fatalf("line %q: no %s: %v", line, key, err)
	}
	return n
}

// switchTo points the link at target atomically, as "hotpatch build
// -versioned" does.
func (t *tree) switchTo(target string) {
	tmp := t.link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.tb.Fatal(err)
	}
	if err := os.Rename(tmp, t.link); err != nil {
		t.tb.Fatal(err)
	}
}

// waitExit waits until pid, a server of this tree, has exited, and reaps
// it: the first process is the test's child, the others are re-parented to
// the test once the process before them has exited.
func (t *tree) waitExit(pid int) {
	t.tb.Helper()
	done := make(chan error, 1)
	go func() {
		if pid == t.first.Process.Pid {
			done <- t.first.Wait()
			return
		}
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == nil && ws.ExitStatus() != 0 {
			err = fmt.Errorf("exit status %d", ws.ExitStatus())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.tb.Errorf("server pid %d: %v", pid, err)
		}
	case <-time.After(hang):
		t.tb.Fatalf("server pid %d did not exit within %s", pid, hang)
	}
	t.mu.Lock()
	delete(t.pids, pid)
	t.mu.Unlock()
}

// restart triggers a restart of the serving process by SIGHUP or GET
// /restart and checks that want's build serves afterwards, alone.
func (t *tree) restart(bySignal bool, want string) {
	t.tb.Helper()
	old := t.cur
	if bySignal {
		if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
			t.tb.Fatal(err)
		}
	} else if body, err := t.get("/restart"); err != nil || body != "ok" {
		t.tb.Fatalf("GET /restart: %q, %v", body, err)
	}
	l := t.waitFor("ready ")
	if v := fieldStr(l, "version"); v != want || fieldStr(l, "parent") != "true" {
		t.tb.Fatalf("after the restart: %q, want version %s with a parent", l, want)
	}
	t.cur = field(t.tb, l, "pid")
	t.waitExit(old)
	if body, err := t.get("/version"); err != nil || body != fmt.Sprintf("%s %d", want, t.cur) {
		t.tb.Fatalf("after the restart GET /version: %q, %v; want %s %d", body, err, want, t.cur)
	}
}

// stop ends the serving process and checks that nothing is left: no
// process, no listener, no socket file.
func (t *tree) stop() {
	t.tb.Helper()
	if err := syscall.Kill(t.cur, syscall.SIGTERM); err != nil {
		t.tb.Fatal(err)
	}
	if !t.contains {
		t.waitFor("exit pid=" + strconv.Itoa(t.cur))
	}
	t.waitExit(t.cur)
	if leftover := reapAll(); len(leftover) > 0 {
		t.tb.Errorf("processes left behind: %v", leftover)
	}
	if c, err := net.Dial("tcp", t.tcp); err == nil {
		c.Close()
		t.tb.Errorf("%s still accepts connections", t.tcp)
	}
	if _, err := os.Lstat(t.sock); !errors.Is(err, os.ErrNotExist) {
		t.tb.Errorf("socket file %s left behind: %v", t.sock, err)
	}
}

// reapAll reaps the test's exited children and returns the pids of those
// still running.
func reapAll() []int {
	var live []int
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || pid <= 0 {
			if pid == 0 {
				live = append(live, 0) // some child is still running
			}
			return live
		}
	}
}

func (t *tree) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: hang}
}

func (t *tree) get(path string) (string, error) {
	resp, err := t.client().Get("http://" + t.tcp + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

// clients runs n loopback clients that send requests until stop, half on
// kept-alive connections, a quarter through the unix socket (the
// fixture's; the example has none).
type clients struct {
	ok, failed atomic.Int64
	connErrs   atomic.Int64 // the failures that are connection errors: no answer, or a cut one
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

// exampleGets are the example's endpoints the clients call, with what
// each answer's body must contain.
var exampleGets = []struct{ path, body string }{
	{"/greet?name=ada", "hello, ada"},
	{"/price?isbn=9780441013593&qty=10", `"total": 10440`},
}

func (t *tree) startClients(n int) *clients {
	path, want := "/version", func(_ int, _ http.Header, b string) bool {
		return strings.HasPrefix(b, "v1 ") || strings.HasPrefix(b, "v2 ")
	}
	if t.contains {
		// The example: each client alternates its endpoints, and every
		// answer names a build.
		path, want = "", func(k int, h http.Header, b string) bool {
			v := h.Get("X-Version")
			return strings.Contains(b, exampleGets[k%2].body) && (v == "v1" || v == "v2")
		}
	}
	cs := &clients{stop: make(chan struct{})}
	for i := range n {
		tr := &http.Transport{DisableKeepAlives: i%2 == 0}
		base := "http://" + t.tcp
		if i%4 == 3 && !t.contains {
			sock := t.sock
			tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}
			base = "http://unix"
		}
		c := &http.Client{Transport: tr, Timeout: hang}
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			defer tr.CloseIdleConnections()
			sent := i // the requests sent, offset so that the clients' endpoints differ
			for {
				select {
				case <-cs.stop:
					return
				default:
				}
				k := sent
				sent++
				err := func() error {
					p := path
					if p == "" {
						p = exampleGets[k%2].path
					}
					resp, err := c.Get(base + p)
					if err != nil {
						cs.connErrs.Add(1)
						return err
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						cs.connErrs.Add(1)
						return err
					}
					if resp.StatusCode != http.StatusOK || !want(k, resp.Header, string(b)) {
						return fmt.Errorf("GET %s: status %d, X-Version %q, body %q", p, resp.StatusCode, resp.Header.Get("X-Version"), b)
					}
					return nil
				}()
				if err != nil {
					cs.failed.Add(1)
					cs.firstErr.CompareAndSwap(nil, fmt.Sprintf("client %d (keep-alive %v): %v", i, !tr.DisableKeepAlives, err))
				} else {
					cs.ok.Add(1)
				}
			}
		}()
	}
	return cs
}

// halt stops the clients and returns the requests that succeeded and
// failed, and the first failure.
func (cs *clients) halt() (ok, failed int64, first string) {
	close(cs.stop)
	cs.wg.Wait()
	f, _ := cs.firstErr.Load().(string)
	return cs.ok.Load(), cs.failed.Load(), f
}
