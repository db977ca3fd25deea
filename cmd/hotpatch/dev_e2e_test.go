//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hang bounds every wait of the end-to-end test: a hang detector, never a
// measure (a baseline build takes seconds on a loaded machine).
const hang = 3 * time.Minute

// devOutput collects the command's output and hands its lines to the test.
type devOutput struct {
	mu    sync.Mutex // guards buf, lines
	buf   strings.Builder
	lines []string
	more  chan struct{} // a token per write
}

func (o *devOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.buf.Write(p)
	o.lines = strings.Split(o.buf.String(), "\n")
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

// next waits for a status line of the loop after line *from that contains
// want, and returns it with the lines that follow it in the same write.
func (o *devOutput) next(t *testing.T, from *int, want string) string {
	t.Helper()
	deadline := time.After(hang)
	for {
		o.mu.Lock()
		lines := o.lines
		o.mu.Unlock()
		for i := *from; i < len(lines)-1; i++ {
			if (strings.HasPrefix(lines[i], "hotpatch dev:") || strings.HasPrefix(want, "  | ")) && strings.Contains(lines[i], strings.TrimPrefix(want, "  | ")) {
				end := i + 1
				for end < len(lines)-1 && !strings.HasPrefix(lines[end], "hotpatch dev:") && !strings.HasPrefix(lines[end], "  | ") {
					end++
				}
				*from = end
				return strings.Join(lines[i:end], "\n")
			}
			if strings.HasPrefix(lines[i], "hotpatch dev:") && i >= *from {
				// A status line, not the one wanted: keep looking past it.
				t.Logf("status: %s", lines[i])
				*from = i + 1
			}
		}
		select {
		case <-o.more:
		case <-deadline:
			t.Fatalf("no line with %q within %s; output:\n%s", want, hang, o.String())
		}
	}
}

func (o *devOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// get answers GET url's body, failing the test on an error.
func devGet(t *testing.T, url string) string {
	t.Helper()
	// A new connection each time: a kept-alive one may lead to the old
	// process while it drains.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return strings.TrimSpace(string(b))
}

// count reads GET /count: the counter and the PID that answered.
func count(t *testing.T, base string) (n, pid int) {
	t.Helper()
	if _, err := fmt.Sscan(devGet(t, base+"/count"), &n, &pid); err != nil {
		t.Fatal(err)
	}
	return n, pid
}

// edit replaces old with new in file, which must hold old.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s holds no %q", file, old)
	}
	writeFile(t, file, strings.Replace(string(b), old, new, 1))
}

// TestDev runs "hotpatch dev" on a copy of the example server, with an
// in-memory counter (GET /count) that a restart resets, through the
// edits a developer makes: a hot body edit, a signature change and a new
// type, a syntax error, a type error, the recovery, and an editor's burst
// of saves. One server, one initial build, for the whole life.
func TestDev(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := copyExample(t, t.TempDir())
	// Fill in the copy's go.mod requirements (offline: the module cache
	// has them, as this repository builds) and warm the build cache.
	prep := exec.Command("go", "build", "-mod=mod", "-o", os.DevNull, ".")
	prep.Dir, prep.Env = dir, append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("building the copy: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	shopGo := filepath.Join(dir, "shop", "shop.go")

	out := &devOutput{more: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--debounce", "50ms", dir, "--", "-addr", addr, "-debounce", "20ms"}, out, out)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("hotpatch dev exited %d; output:\n%s", code, out)
			}
		case <-time.After(hang):
			t.Errorf("hotpatch dev did not stop; output:\n%s", out)
		}
	}
	t.Cleanup(stop)
	var at int
	out.next(t, &at, "started")
	out.next(t, &at, "  | msg=serving")
	n0, pid0 := count(t, base)

	t.Run("hot", func(t *testing.T) {
		edit(t, shopGo, `return "hello, " + name`, `return fmt.Sprintf("howdy, %s (bulk from %d)", strings.ToUpper(name), BulkQty)`)
		line := out.next(t, &at, "shop/shop.go:")
		if !strings.Contains(line, "hot (script)") {
			t.Fatalf("want hot, got %s", line)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "howdy, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q", got, want)
		}
		if n, pid := count(t, base); pid != pid0 || n != n0+1 {
			t.Errorf("count: %d from pid %d, want %d from %d: the state was lost", n, pid, n0+1, pid0)
		}
	})

	var pid1 int
	t.Run("baseline step", func(t *testing.T) {
		var failed, served atomic.Int64
		cctx, ccancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 30 * time.Second}
				for cctx.Err() == nil {
					resp, err := client.Get(base + "/greet?name=ann")
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
						continue
					}
					served.Add(1)
				}
			}()
		}
		edit(t, shopGo, "func Percent(c Cents, pct int) Cents {", "func Percent(c Cents, pct int, _ ...Coupon) Cents {")
		edit(t, shopGo, "// Book is one title", "// Coupon is a discount code.\ntype Coupon struct{ Code string }\n\n// Book is one title")
		line := out.next(t, &at, "shop/shop.go:")
		ccancel()
		wg.Wait()
		if !strings.Contains(line, "baseline step") {
			t.Fatalf("want a baseline step, got %s", line)
		}
		if failed.Load() != 0 || served.Load() == 0 {
			t.Errorf("%d requests failed, %d served, during the baseline step", failed.Load(), served.Load())
		}
		var n int
		n, pid1 = count(t, base)
		if pid1 == pid0 || n != 1 {
			t.Errorf("count: %d from pid %d after the step; want 1 from a new process (was %d)", n, pid1, pid0)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "howdy, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q (the hot edit is in the new baseline)", got, want)
		}
	})

	good, err := os.ReadFile(shopGo)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("syntax error", func(t *testing.T) {
		edit(t, shopGo, `strings.ToUpper(name), BulkQty)`, `strings.ToUpper(name), BulkQty`)
		line := out.next(t, &at, "shop/shop.go:")
		if !strings.Contains(line, "syntax error") || !strings.Contains(line, "\nshop/shop.go:") {
			t.Fatalf("want the syntax error with its module-relative position, got %s", line)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "howdy, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q: the old code must keep serving", got, want)
		}
	})
	recovered := strings.Replace(string(good), `"howdy, %s`, `"hey, %s`, 1)
	t.Run("recovery", func(t *testing.T) {
		writeFile(t, shopGo, recovered)
		line := out.next(t, &at, "shop/shop.go:")
		if !strings.Contains(line, "hot (script)") {
			t.Fatalf("want hot, got %s", line)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "hey, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q", got, want)
		}
		if _, pid := count(t, base); pid != pid1 {
			t.Errorf("pid %d, want %d", pid, pid1)
		}
	})
	t.Run("type error", func(t *testing.T) {
		// On top of a hot edit: the refused script leaves it serving.
		writeFile(t, shopGo, strings.Replace(recovered, `strings.ToUpper(name), BulkQty)`, `strings.ToUpper(name), undefinedQty)`, 1))
		line := out.next(t, &at, "shop/shop.go:")
		// The script is refused, the native patch does not compile: the
		// compiler's error, and no baseline step.
		if !strings.Contains(line, "does not compile") || !regexp.MustCompile(`\nshop/shop\.go:\d+:\d+: undefined: undefinedQty`).MatchString(line) {
			t.Fatalf("want the compile error with its module-relative position, got %s", line)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "hey, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q: the old code must keep serving", got, want)
		}
		if _, pid := count(t, base); pid != pid1 {
			t.Errorf("pid %d, want %d: a failed build must not restart the server", pid, pid1)
		}
	})
	t.Run("recovery after the type error", func(t *testing.T) {
		writeFile(t, shopGo, strings.Replace(recovered, `"hey, %s`, `"hola, %s`, 1))
		line := out.next(t, &at, "shop/shop.go:")
		if !strings.Contains(line, "hot (script)") {
			t.Fatalf("want hot, got %s", line)
		}
		if got, want := devGet(t, base+"/greet?name=ann"), "hola, ANN (bulk from 10)"; got != want {
			t.Errorf("greet: %q, want %q", got, want)
		}
	})
	t.Run("burst", func(t *testing.T) {
		// An editor's auto-save: 30 saves of a constant in 3 s, each a
		// baseline change. The loop builds one at a time and ends on the
		// last content; not one build per save.
		cur, err := os.ReadFile(shopGo)
		if err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(100 * time.Millisecond)
		for i := 1; i <= 30; i++ {
			<-tick.C
			writeFile(t, shopGo, strings.Replace(string(cur), "BulkPercent = 5", fmt.Sprintf("BulkPercent = %d", i), 1))
		}
		tick.Stop()
		deadline := time.Now().Add(hang)
		for {
			got := devGet(t, base+"/price?isbn=9780486415871&qty=10")
			if strings.Contains(got, "30% off from 10 copies") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the last save never served (the price says %q); output:\n%s", got, out)
			}
			select { // more output, or a second
			case <-out.more:
			case <-time.After(time.Second):
			}
		}
		steps := strings.Count(out.String(), ": baseline step in ")
		if steps > 1+5 {
			t.Errorf("%d baseline steps in all for 30 saves: the builds piled up", steps)
		}
	})

	stop()
	if left := groupPIDs(pid0); len(left) > 0 {
		t.Errorf("processes left after Ctrl-C: %v", left)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "hotpatch-dev-*")); len(m) > 0 {
		t.Logf("temporary directories present (maybe of other runs): %v", m)
	}
}

// TestDevBadArgs: a command line "hotpatch dev" cannot use is refused
// with what to do, and nothing is started.
func TestDevBadArgs(t *testing.T) {
	t.Parallel()
	noMod := t.TempDir()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{args: []string{"dev"}, code: 2, want: "name the main package's directory"},
		{args: []string{"dev", filepath.Join(noMod, "missing")}, code: 2, want: "not a directory"},
		{args: []string{"dev", noMod}, code: 1, want: "is not in a module"},
		{args: []string{"dev", "--poll", "soon", noMod}, code: 2, want: "invalid value"},
	} {
		var out strings.Builder
		if code := run(context.Background(), tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.want)
		}
	}
}
