package patchdir_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// readBytes is how many bytes this process has read so far (rchar of
// /proc/self/io: every read system call, cached or not).
func readBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("rchar: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

// TestRecheckReadsNothingWhileRefused: a refused file is checked again
// every RecheckInterval; while Check still refuses it, the recheck reads
// nothing of it. It read and hashed the whole file before it asked Check,
// every second, for every refused file: a group-writable patch directory
// (every file refused) full of large native patches cost a core's worth
// of reading and hashing for as long as nobody fixed the mode.
func TestRecheckReadsNothingWhileRefused(t *testing.T) {
	// Not parallel: the measure is the whole process's reads.
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	var allow atomic.Bool
	var asked atomic.Int32
	check := func(path string) error {
		asked.Add(1)
		if allow.Load() {
			return nil
		}
		return errors.New("not yet")
	}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, Check: check}, &wordLoader{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const size = 32 << 20
	big := append(bytes.Repeat([]byte{'x'}, size-len("big")), "big"...)
	writeAtomic(t, dir, "greet.word", string(big))
	waitFor(t, func() bool { return rejections(f) == 1 })
	n0, r0 := asked.Load(), readBytes(t)
	waitFor(t, func() bool { return asked.Load() >= n0+2 }) // two rechecks
	if read := readBytes(t) - r0; read >= size {
		t.Errorf("two rechecks of a refused %d-byte file read %d bytes; want the file left unread while Check refuses it", size, read)
	}
	// Once Check passes, the file goes on to its load (which refuses a
	// file this large: a second rejection, the load's).
	allow.Store(true)
	waitFor(t, func() bool { return rejections(f) == 2 })
}

func rejections(f *fixture) int {
	n := 0
	for _, e := range f.m.History() {
		if e.Type == hotswap.EventRejected {
			n++
		}
	}
	return n
}

// TestRecheckAppliesInNameOrder: files refused together (the directory
// was group-writable, say) and passed by Check together apply in the
// order of their names, each after the one before, as the files of the
// first scan do: of several that patch one slot, the last name serves.
// They were started all at once, and whichever applied last served.
func TestRecheckAppliesInNameOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, hotswap.Options{})
	dir := t.TempDir()
	var allow atomic.Bool
	check := func(string) error {
		if allow.Load() {
			return nil
		}
		return errors.New("the directory is group-writable")
	}
	l := &wordLoader{}
	w, err := f.watch(t, dir, patchdir.Options{Debounce: 10 * time.Millisecond, Check: check}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 12
	for i := range n {
		writeAtomic(t, dir, fmt.Sprintf("p%02d.word", i), fmt.Sprintf("w%02d", i))
	}
	waitFor(t, func() bool { return rejections(f) == n })
	allow.Store(true)
	waitFor(t, func() bool { return l.loads.Load() == n && len(f.m.Status().Stack) == n })
	if got, want := f.greet.Load()("x"), fmt.Sprintf("w%02d, x", n-1); got != want {
		t.Errorf("serving %q, want %q (the last name)", got, want)
	}
}
