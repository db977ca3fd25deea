package native_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/native"
)

// rssKiB is this process's resident set, from /proc/self/status.
func rssKiB(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestApplyRevertCycles applies and reverts three builds of a patch 50
// times in all, loading each file again every time as a patch directory
// does: after the first open of each build nothing more is mapped, counted
// or left open (descriptors, goroutines), and the resident set stays flat.
func TestApplyRevertCycles(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	builds := []string{"v1", "v2", "v3"}
	cycle := func(i int) {
		v := builds[i%len(builds)]
		p := e.load(t, fixture(t, v+".so"))
		e.apply(t, p)
		if got, want := e.slots.Greet.Load()("x"), v+", x"; got != want {
			t.Fatalf("cycle %d: Greet = %q, want %q", i, got, want)
		}
		if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
			t.Fatalf("cycle %d: revert: %v", i, err)
		}
		if got := e.slots.Greet.Load()("x"); got != "hello, x" {
			t.Fatalf("cycle %d: after revert Greet = %q", i, got)
		}
	}
	for i := range builds {
		cycle(i)
	}
	runtime.GC()
	used0, _ := e.l.Memory()
	fd0, g0, rss0 := fdCount(t), runtime.NumGoroutine(), rssKiB(t)
	for i := len(builds); i < 50; i++ {
		cycle(i)
	}
	runtime.GC()
	used1, _ := e.l.Memory()
	fd1, g1, rss1 := fdCount(t), runtime.NumGoroutine(), rssKiB(t)
	if used1 != used0 {
		t.Errorf("native memory counted %d -> %d bytes: re-applied builds were counted again", used0, used1)
	}
	if fd1 > fd0 || g1 > g0 {
		t.Errorf("descriptors %d -> %d, goroutines %d -> %d", fd0, fd1, g0, g1)
	}
	fmt.Printf("50 cycles: native memory %d -> %d B, fds %d -> %d, goroutines %d -> %d, RSS %d -> %d KiB\n",
		used0, used1, fd0, fd1, g0, g1, rss0, rss1)
}

func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	return len(ents)
}
