package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemo runs the demo end to end: the example server as a subprocess
// under load, and each step of the tour, the native and process builds
// included (go test -short runs only the steps that need no such build,
// as the demo's own -short does). Every step must report ok, and the
// closing table 0 failed requests for each.
func TestDemo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	if !demoSupported {
		t.Skip("the demo needs unix")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang detector
	defer cancel()
	var out bytes.Buffer
	opts := demoOptions{Short: testing.Short(), Clients: 4, Root: moduleRoot(t)}
	err := runTour(ctx, opts, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	steps := demoSteps(opts.Short)
	text := out.String()
	for i, s := range steps {
		line := regexp.MustCompile(`(?m)^\[` + strconv.Itoa(i+1) + `/` + strconv.Itoa(len(steps)) + `\] ok   ` + s.name + ` .* (\d+) requests, (\d+) failed`)
		m := line.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no ok line for step %d, %s", i+1, s.name)
		} else if m[2] != "0" {
			t.Errorf("step %s: %s failed requests", s.name, m[2])
		}
	}
	// The table: a row per step, in order, FAILED 0.
	_, table, ok := strings.Cut(text, "\nSTEP ")
	if !ok {
		t.Fatal("no closing table")
	}
	rows := strings.Split(strings.TrimSpace(table), "\n")[1:]
	var total int64
	for i, s := range steps {
		if i >= len(rows) {
			t.Fatalf("the table has %d rows, want %d", len(rows), len(steps))
		}
		f := strings.Fields(rows[i])
		if len(f) < 5 || f[0] != s.name || f[1] != s.kind {
			t.Fatalf("table row %d: %q, want step %s of kind %s", i, rows[i], s.name, s.kind)
		}
		if f[4] != "0" {
			t.Errorf("table row %s: FAILED %s, want 0", s.name, f[4])
		}
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("table row %s: REQUESTS %q", s.name, f[3])
		}
		total += n
	}
	if total == 0 {
		t.Error("no request was sent during the steps")
	}
	if !strings.Contains(text, "requests, 0 failed. Stopping the server") {
		t.Error("no closing count")
	}
	if m := regexp.MustCompile(`pid \d+ -> \d+, (\d+) (patch|patches) applied again`).FindStringSubmatch(text); m == nil {
		t.Error("the baseline step's line does not say how many patches were applied again")
	} else if (m[1] == "1") != (m[2] == "patch") {
		t.Errorf("the baseline step's line says %q %q", m[1], m[2])
	}
	checkCleanedUp(t, text)
}

func TestPatchCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 patches", 1: "1 patch", 4: "4 patches"} {
		if got := patchCount(n); got != want {
			t.Errorf("patchCount(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestDemoInterrupted cancels the demo (as Ctrl-C does) once the first
// step ran: it returns the context's error, and leaves no process and no
// directory behind.
func TestDemoInterrupted(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	if !demoSupported {
		t.Skip("the demo needs unix")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAt{after: "[1/", cancel: cancel}
	err := runTour(ctx, demoOptions{Short: true, Clients: 2, Root: moduleRoot(t)}, out)
	text := out.String()
	t.Logf("demo output:\n%s", text)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("demo: %v, want context.Canceled", err)
	}
	if !strings.Contains(text, "[1/") {
		t.Fatal("canceled before the first step")
	}
	checkCleanedUp(t, text)
}

// TestDemoOutsideCheckout: the demo builds the example from source, and
// says so when the current directory is not a hotpatch checkout.
func TestDemoOutsideCheckout(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/go.mod", []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runTour(context.Background(), demoOptions{Short: true, Clients: 1, Root: dir}, &out)
	if err == nil || !strings.Contains(err.Error(), "run it from a checkout of github.com/hotpatch-go/hotpatch") {
		t.Fatalf("demo outside a checkout: %v", err)
	}
	if out.Len() > 0 {
		t.Errorf("it wrote %q before refusing", out.String())
	}
}

// checkCleanedUp checks that the server's process group is gone and the
// working directory removed, as the demo's output names them.
func checkCleanedUp(t *testing.T, text string) {
	t.Helper()
	if m := regexp.MustCompile(`working in (\S+) `).FindStringSubmatch(text); m == nil {
		t.Error("no working directory in the output")
	} else if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is left behind: %v", m[1], err)
	}
	if m := regexp.MustCompile(`server pid (\d+) `).FindStringSubmatch(text); m == nil {
		t.Error("no server pid in the output")
	} else if pgid, _ := strconv.Atoi(m[1]); groupAlive(pgid) {
		t.Errorf("a process of the server's group %d is left behind", pgid)
	}
}

// cancelAt is a writer that cancels once what it was written holds after.
type cancelAt struct {
	mu     sync.Mutex // guards buf
	buf    bytes.Buffer
	after  string
	cancel context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.after) {
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelAt) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
