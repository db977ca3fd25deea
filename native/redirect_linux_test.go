//go:build linux && (amd64 || arm64)

package native

import (
	"encoding/binary"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// writeForeignJump writes, at entry, a jump to to (or the word restore[0]),
// bypassing this package's bookkeeping as another patcher would, and
// returns the word it replaced.
func writeForeignJump(entry, to uintptr, restore ...uint64) (uint64, error) {
	process.mu.Lock()
	defer process.mu.Unlock()
	m, err := findMapping(entry)
	if err != nil {
		return 0, err
	}
	s := &site{entry: entry, prot: m.prot}
	s.word = entry
	if runtime.GOARCH == "amd64" {
		s.word = entry &^ 7
	}
	prev := loadWord(s.word)
	word := prev
	switch {
	case len(restore) > 0:
		word = restore[0]
	case runtime.GOARCH == "amd64":
		j, ok := amd64Jump(uint64(entry), uint64(to))
		if !ok {
			return 0, errors.New("out of range")
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], prev)
		copy(w[entry-s.word:], j[:])
		word = binary.LittleEndian.Uint64(w[:])
	default:
		insn, ok := arm64Branch(uint64(entry), uint64(to))
		if !ok {
			return 0, errors.New("out of range")
		}
		word = uint64(insn)
	}
	return prev, writeWord(s, word)
}

func TestNotParked(t *testing.T) { runChild(t, "TestChildNotParked", "GODEBUG=asyncpreemptoff=1") }

// TestChildNotParked holds a P with a goroutine that never reaches a
// preemption point (asynchronous preemption off, a loop without calls):
// the write must give up with ErrNotParked and change nothing.
func TestChildNotParked(t *testing.T) {
	inChild(t)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps")
	}
	if raceEnabled {
		t.Skip("the race detector's instrumentation puts calls, preemption points, in every loop: no goroutine can hold a P")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a GC would wait for the hog too
	var word uint64 = 1
	var stop, started atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		started.Store(true)
		for !stop.Load() {
		}
	})
	for !started.Load() {
		runtime.Gosched()
	}
	err := parkedStore(uintptr(unsafe.Pointer(&word)), 2, 200*time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if !errors.Is(err, ErrNotParked) {
		t.Errorf("parkedStore = %v, want ErrNotParked", err)
	}
	if word != 1 {
		t.Errorf("word = %d after a failed parked store, want 1", word)
	}
	if err := parkedStore(uintptr(unsafe.Pointer(&word)), 3, time.Second); err != nil || word != 3 {
		t.Errorf("parkedStore once the P is free: %v, word %d", err, word)
	}
}
