package script_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestMemoryPerVersion applies 1,000 successive versions of a script, each
// replacing the one before as the directory watcher does, and checks that
// retired versions do not pile up on the heap: loaded with a plain host,
// with the manager as the host, and through Manager.Load, whose per-load
// host reaches the applied patch (and so the version's own funcs: the
// version must not keep its host's reporter, or the cleanup that waits for
// those funcs to be unreachable never runs). docs/scripts.md quotes the
// figure it logs.
func TestMemoryPerVersion(t *testing.T) {
	// Not parallel: it measures the heap.
	for _, via := range []string{"host", "manager", "load"} {
		t.Run(via, func(t *testing.T) { memoryPerVersion(t, via) })
	}
}

func memoryPerVersion(t *testing.T, via string) {
	const warmup, versions = 50, 1000
	e := newEnv(t)
	m, err := hotswap.New(e.reg, hotswap.Options{HistorySize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	events, cancel := m.Subscribe(4 * (warmup + versions)) // never full: a subscriber that falls behind misses events
	defer cancel()
	retired := make(chan struct{}, warmup+versions)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range events {
			if ev.Type == hotswap.EventRetired {
				retired <- struct{}{}
			}
		}
	}()
	defer func() { cancel(); <-drained }()

	l := e.loader(script.Options{})
	prev := ""
	apply := func(n int) {
		t.Helper()
		// The body changes with n and calls into strings and strconv, so
		// every version compiles and keeps its own code and symbols.
		src := fmt.Sprintf(`package patch

import (
	"strconv"
	"strings"
)

var greeting = strings.Repeat("hi ", 2)

//hotpatch:slot example.Greet
func Greet(name string) string { return greeting + name + " v" + strconv.Itoa(%d) }
`, n)
		var p hotswap.Patch
		var err error
		switch via {
		case "host":
			p, err = l.Load(context.Background(), e.host, e.write("greet.go", src))
		case "manager":
			p, err = l.Load(context.Background(), m, e.write("greet.go", src))
		default:
			p, err = m.Load(context.Background(), l, e.write("greet.go", src))
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Replaces = prev
		if _, err := m.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		prev = p.ID
		if got, want := e.greet.Load()("bob"), fmt.Sprintf("hi hi bob v%d", n); got != want {
			t.Fatalf("version %d: Greet = %q, want %q", n, got, want)
		}
	}
	waitRetired := func(n int) {
		t.Helper()
		timeout := time.After(time.Minute)
		for range n {
			select {
			case <-retired:
			case <-timeout:
				t.Fatal("versions were not retired")
			}
		}
	}

	for n := range warmup {
		apply(n)
	}
	waitRetired(warmup - 1)
	before := heap()
	start := time.Now()
	for n := warmup; n < warmup+versions; n++ {
		apply(n)
	}
	elapsed := time.Since(start)
	waitRetired(versions)
	after := heap()

	perVersion := (int64(after) - int64(before)) / versions
	t.Logf("heap %d KiB before, %d KiB after %d versions: %+d bytes per version; %v per load+apply",
		before>>10, after>>10, versions, perVersion, elapsed/versions)
	// A retained interpreter costs tens of kilobytes; what is left here is
	// the noise of a live heap.
	if perVersion > 2<<10 {
		t.Errorf("the heap grows by %d bytes per version: retired interpreters are kept", perVersion)
	}
}

func heap() uint64 {
	var ms runtime.MemStats
	for range 3 { // finalizers and sweeping settle over a few cycles
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
