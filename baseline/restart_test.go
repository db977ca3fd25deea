//go:build linux

package baseline_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestarts restarts a server 20 times, alternating two builds by
// switching the link it was started from and alternating the triggers,
// while 16 clients send requests: none may fail.
func TestRestarts(t *testing.T) {
	tr := startTree(t, bins.v1)
	cs := tr.startClients(16)
	builds := map[bool]string{false: bins.v1, true: bins.v2}
	for i := 1; i <= 20; i++ {
		odd := i%2 == 1
		tr.switchTo(builds[odd])
		want := "v1"
		if odd {
			want = "v2"
		}
		tr.restart(i%3 != 0, want)
	}
	ok, failed, first := cs.halt()
	t.Logf("%d requests served across 20 restarts", ok)
	if failed != 0 || ok == 0 {
		t.Errorf("%d of %d requests failed; first: %s", failed, ok+failed, first)
	}
	tr.stop()
}

// TestExampleRestarts restarts examples/httpserver 20 times by SIGHUP,
// alternating two builds of it by switching the link it was started from,
// while 16 clients (half on kept-alive connections) call /greet and /price:
// none may fail, and after each restart the new build answers.
func TestExampleRestarts(t *testing.T) {
	tr := startExample(t, bins.example[0])
	cs := tr.startClients(16)
	start := time.Now()
	for i := 1; i <= 20; i++ {
		want := "v" + strconv.Itoa(2-i%2)
		tr.switchTo(bins.example[1-i%2])
		old := tr.cur
		if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		l := tr.waitFor("msg=serving")
		tr.cur = field(t, l, "pid")
		if v := fieldStr(l, "version"); v != want || tr.cur == old {
			t.Fatalf("restart %d: %q, want a new process of version %s", i, l, want)
		}
		tr.waitExit(old)
		// The old process is gone: a new connection reaches the new one.
		resp, err := tr.client().Get("http://" + tr.tcp + "/greet?name=new")
		if err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if v := resp.Header.Get("X-Version"); err != nil || resp.StatusCode != http.StatusOK || string(b) != "hello, new" || v != want {
			t.Fatalf("restart %d: status %d, X-Version %q, body %q, %v; want version %s", i, resp.StatusCode, v, b, err, want)
		}
	}
	ok, failed, first := cs.halt()
	t.Logf("%d requests served across 20 restarts of the example in %s", ok, time.Since(start).Round(time.Millisecond))
	if failed != 0 || ok == 0 {
		t.Errorf("%d of %d requests failed, %d of them with a connection error; first: %s", failed, ok+failed, cs.connErrs.Load(), first)
	}
	tr.stop()
}

// TestInFlightDrained holds a request open across the hand-off: the old
// process answers it while it drains.
func TestInFlightDrained(t *testing.T) {
	tr := startTree(t, bins.v1)
	old := tr.cur
	res := make(chan string, 1)
	go func() {
		body, err := tr.get("/slow")
		if err != nil {
			body = err.Error()
		}
		res <- body
	}()
	tr.waitFor("slow pid=" + strconv.Itoa(old))
	tr.switchTo(bins.v2)
	tr.restart(true, "v2")
	if body := <-res; body != "v1 "+strconv.Itoa(old) {
		t.Errorf("request in flight across the restart: %q, want the old process's answer", body)
	}
	tr.stop()
}

// TestBadBinaries restarts into binaries that cannot take over: each
// restart fails with why and the new process's stderr, the old process
// keeps serving every request, and a good binary then takes over.
func TestBadBinaries(t *testing.T) {
	tr := startTree(t, bins.v1, "-ready-timeout=4s")
	first := tr.cur
	cs := tr.startClients(4)
	for _, c := range []struct {
		bin  string
		want []string
	}{
		{bins.exit, []string{"exited", "exit status 3", "fatal: broken configuration on purpose"}},
		{bins.check, []string{"exited", "readiness check failed", "the database is unreachable on purpose"}},
		{bins.noexec, []string{"not executable", "chmod +x"}},
		{bins.hang, []string{"not ready within 4s", "killed"}},
		{tr.link + ".missing", []string{"no such file"}},
	} {
		tr.switchTo(c.bin)
		body, err := tr.get("/restart")
		if err == nil {
			t.Fatalf("restart into %s: %q, want an error", c.bin, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("restart into %s: error %q lacks %q", c.bin, body, w)
			}
		}
		if !strings.Contains(body, "the old process keeps serving") {
			t.Errorf("restart into %s: error %q does not say the old process serves", c.bin, body)
		}
		ev := tr.waitFor("event pid=" + strconv.Itoa(first) + " type=baseline-failed")
		if !strings.Contains(ev, "still serving") && !strings.Contains(ev, "keeps serving") {
			t.Errorf("event %q does not carry the error", ev)
		}
		if body, err := tr.get("/version"); err != nil || body != "v1 "+strconv.Itoa(first) {
			t.Errorf("after the failed restart into %s: %q, %v; want the old process", c.bin, body, err)
		}
	}
	tr.switchTo(bins.v2)
	tr.restart(false, "v2")
	ok, failed, firstErr := cs.halt()
	if failed != 0 || ok == 0 {
		t.Errorf("%d of %d requests failed; first: %s", failed, ok+failed, firstErr)
	}
	tr.stop()
}

// TestSecondTriggerRefused triggers a restart while one is waiting for a
// new process that never becomes ready: the second is refused, not queued.
func TestSecondTriggerRefused(t *testing.T) {
	tr := startTree(t, bins.v1, "-ready-timeout=4s")
	tr.switchTo(bins.hang)
	res := make(chan string, 1)
	go func() {
		body, _ := tr.get("/restart")
		res <- body
	}()
	tr.waitFor("started ") // the hanging process runs: a restart is in progress
	body, err := tr.get("/restart")
	if err == nil || !strings.Contains(body, "a restart is already in progress") {
		t.Errorf("second trigger: %q, %v; want it refused as in progress", body, err)
	}
	if body := <-res; !strings.Contains(body, "not ready within") {
		t.Errorf("first trigger: %q, want the ready timeout", body)
	}
	tr.switchTo(bins.v2)
	tr.restart(true, "v2")
	tr.stop()
}

// TestHandOverStopsAccepting: once a restart has returned, every new
// connection, on TCP and on the unix socket, reaches the new process,
// although the old one is slow to come to its Shutdown (it lingers 2 s):
// the old process stopped accepting at the hand-over. A request it
// accepted before stays its own to answer.
func TestHandOverStopsAccepting(t *testing.T) {
	tr := startTree(t, bins.v1, "-linger=2s")
	old := tr.cur
	inFlight := make(chan string, 1)
	go func() {
		body, err := tr.get("/slow")
		if err != nil {
			body = err.Error()
		}
		inFlight <- body
	}()
	tr.waitFor("slow pid=" + strconv.Itoa(old))
	tr.switchTo(bins.v2)
	if body, err := tr.get("/restart"); err != nil || body != "ok" {
		t.Fatalf("GET /restart: %q, %v", body, err)
	}
	l := tr.waitFor("ready ")
	tr.cur = field(t, l, "pid")
	want := "v2 " + strconv.Itoa(tr.cur)
	sock := tr.sock
	unixClient := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	for i := range 40 {
		body, err := tr.get("/version")
		if err == nil && i%2 == 1 {
			var resp *http.Response
			if resp, err = unixClient.Get("http://unix/version"); err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
		}
		if err != nil || body != want {
			t.Fatalf("new connection %d after the restart returned: %q, %v; want %q (the old process still accepts)", i, body, err, want)
		}
	}
	if body := <-inFlight; body != "v1 "+strconv.Itoa(old) {
		t.Errorf("request in flight across the hand-over: %q, want the old process's answer", body)
	}
	tr.waitExit(old)
	tr.stop()
}

// TestRestartKeepsPatchesOrFails: a restart of the example whose new
// process cannot apply again a patch the old one serves (its kept copy
// in the state directory was damaged) fails, saying which patch and
// why, and the old process keeps serving it: a restart never drops a
// fix silently.
func TestRestartKeepsPatchesOrFails(t *testing.T) {
	patches := t.TempDir()
	tr := launch(t, bins.example[0], true, func(string) []string {
		return []string{"-addr", "127.0.0.1:0", "-patches", patches}
	})
	f := tr.waitFor("msg=serving")
	tr.cur = field(t, f, "pid")
	tr.tcp = fieldStr(f, "addr")
	src := "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return \"patched, \" + name }\n"
	if err := os.WriteFile(filepath.Join(patches, "greet.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.waitFor("hotswap: applied")
	if body, err := tr.get("/greet?name=x"); err != nil || body != "patched, x" {
		t.Fatalf("GET /greet after the patch: %q, %v", body, err)
	}
	var copies []string
	for deadline := time.Now().Add(hang); len(copies) == 0; time.Sleep(10 * time.Millisecond) { // the journal keeps it just after the apply
		if time.Now().After(deadline) {
			t.Fatalf("no kept copy of greet.go in %s.state within %s", patches, hang)
		}
		copies, _ = filepath.Glob(filepath.Join(patches+".state", "blobs", "*", "greet.go"))
	}
	if err := os.WriteFile(copies[0], []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := tr.cur
	if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l := tr.waitFor("baseline: restart failed")
	if !strings.Contains(l, "could not be applied again") || !strings.Contains(l, "greet.go") {
		t.Errorf("the failed restart does not say which patch and why: %s", l)
	}
	if body, err := tr.get("/greet?name=x"); err != nil || body != "patched, x" {
		t.Errorf("GET /greet after the failed restart: %q, %v; want the patch, served by the old process", body, err)
	}
	if err := syscall.Kill(old, 0); err != nil {
		t.Errorf("the old process %d after the failed restart: %v", old, err)
	}
	tr.stop()
}
