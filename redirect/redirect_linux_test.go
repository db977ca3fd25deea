//go:build linux && (amd64 || arm64)

package redirect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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

// TestNotParkedFixedClock is TestNotParked with time.Now redirected to a
// fixed time, as tests of time-dependent code do: the rendezvous used to
// measure its bounds with time.Now, never saw them pass, and hung.
func TestNotParkedFixedClock(t *testing.T) {
	runChild(t, "TestChildNotParked", "GODEBUG=asyncpreemptoff=1", "HOTPATCH_NATIVE_FIXED_CLOCK=1")
}

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
	if os.Getenv("HOTPATCH_NATIVE_FIXED_CLOCK") != "" {
		fixed := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		r, err := Redirect(time.Now, func() time.Time { return fixed })
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		if !time.Now().Equal(fixed) {
			t.Fatal("time.Now not redirected")
		}
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
	done := make(chan error, 1)
	go func() { done <- parkedStore(uintptr(unsafe.Pointer(&word)), 2, 200*time.Millisecond) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a hang detector; time.After reads the runtime's clock
		t.Fatal("parkedStore did not give up within a minute of its 200 ms bound")
	}
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

func TestUnparkedStores(t *testing.T) { runChild(t, "TestChildUnparkedStores") }

// TestChildUnparkedStores checks the first line of defence alone: the jump
// is written without gathering the Ps, as fast as possible, while 8
// goroutines that never yield call the target (so the runtime preempts them
// asynchronously, anywhere in it). Because the jump changes no instruction
// but the first, every call must still return the old or the new result.
// (Writing a plain JMP rel32 over the entry instead crashes this test
// within seconds: a thread that has executed the entry's first instruction
// resumes inside the jump.)
func TestChildUnparkedStores(t *testing.T) {
	inChild(t)
	for _, tc := range []struct {
		name                string
		target, replacement func(int, int) int
		old, new            func(int) int
	}{
		{"leaf", targetAdd, replAdd, func(i int) int { return i + 1 }, func(i int) int { return -(i + 1) }},
		{"stack-check prologue", targetFramed, replFramed, func(i int) int { return 3*i + 1 }, func(i int) int { return -(3*i + 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Redirect(tc.target, tc.replacement)
			if err != nil {
				t.Fatal(err)
			}
			s := r.site
			jump, err := patchedWord(s)
			if err != nil {
				t.Fatal(err)
			}
			var stop atomic.Bool
			var bad, calls atomic.Int64
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					var n, nBad int64
					for i := g; !stop.Load(); i += 8 {
						if got := tc.target(i, 1); got != tc.old(i) && got != tc.new(i) {
							nBad++
						}
						n++
					}
					calls.Add(n)
					bad.Add(nBad)
				})
			}
			ps := uintptr(unix.Getpagesize())
			page := s.word &^ (ps - 1)
			if err := mprotect(page, ps, s.prot|unix.PROT_WRITE); err != nil {
				t.Fatal(err)
			}
			start, writes := time.Now(), 0
			for time.Since(start) < 2*time.Second {
				for range 1000 {
					storeWord(s.word, s.orig)
					storeWord(s.word, jump)
					writes += 2
				}
			}
			stop.Store(true)
			wg.Wait()
			if err := mprotect(page, ps, s.prot); err != nil {
				t.Fatal(err)
			}
			if err := r.Restore(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d unparked writes under %d calls", writes, calls.Load())
			if bad.Load() != 0 {
				t.Errorf("%d results from neither version", bad.Load())
			}
		})
	}
}

// storeWord is the bare atomic store of the write, without the rendezvous.
func storeWord(addr uintptr, v uint64) {
	if runtime.GOARCH == "amd64" {
		atomic.StoreUint64((*uint64)(ptr(addr)), v)
		return
	}
	atomic.StoreUint32((*uint32)(ptr(addr)), uint32(v))
	flushICache(addr)
}

func readCodeForTest(entry uintptr) []byte { return readCode(entry) }

// TestNoRoomForJump places the jump of a function shaped like one with a
// frame over 4 KiB, loaded low, with no padding around it: every window
// lies below address 0, so the refusal must say that, not that memory ran
// out. Nothing is mapped or written for a refused site.
func TestNoRoomForJump(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 jump placement")
	}
	code := []byte{0x49, 0x89, 0xe4, 0x49, 0x81, 0xec, 0x88, 0x1f, 0x00, 0x00, 0x72, 0x4c} // MOVQ SP, R12; SUBQ $0x1f88, R12
	s := &site{entry: 0x401000, code: code, codeLen: maxRoom, room: maxRoom}
	process.mu.Lock()
	err := placeTrampoline(s)
	process.mu.Unlock()
	if !errors.Is(err, ErrNoRoomForJump) || errors.Is(err, ErrNoTrampoline) {
		t.Fatalf("placeTrampoline = %v, want ErrNoRoomForJump alone", err)
	}
	for _, want := range []string{"MOVQ SP, R12", "3 bytes long", "outside the address space", "frame exceeds 4 KiB", "-buildmode=pie", "alignment padding is not used"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
	if s.tramp != 0 {
		t.Errorf("refused site has trampoline %#x", s.tramp)
	}
}

func TestRedirectConcurrentFallback(t *testing.T) {
	runChild(t, "TestChildRedirectConcurrentFallback")
}

// TestChildRedirectConcurrentFallback runs the concurrent test with the
// writes of the kernels without membarrier's SYNC_CORE: every P gathered
// for each store (arm64's only way). It runs 200 cycles: each gathers every
// P twice, up to tens of milliseconds on a machine shared with other work.
func TestChildRedirectConcurrentFallback(t *testing.T) {
	inChild(t)
	t.Logf("membarrier SYNC_CORE: %v", syncCoreError())
	cycles := 200
	if s := os.Getenv("HOTPATCH_NATIVE_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
		cycles = min(cycles, 200)
	}
	r, err := Redirect(targetFramed, replFramed)
	if err != nil {
		t.Fatal(err)
	}
	s := r.site
	jump := loadWord(s.word)
	cycle := func() error {
		process.mu.Lock()
		defer process.mu.Unlock()
		if err := writeWordWith(s, s.orig, parkedCommit); err != nil {
			return err
		}
		return writeWordWith(s, jump, parkedCommit)
	}
	hammerCycles(t, cycles, cycle, func(i int) (ok, redirected bool) {
		got := targetFramed(i, 1)
		return got == 3*i+1 || got == -(3*i+1), got == -(3*i + 1)
	})
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
}

// TestSyncCore reports whether this kernel offers membarrier's SYNC_CORE,
// which amd64 writes use, and checks that the command works where it is
// offered.
func TestSyncCore(t *testing.T) {
	if err := syncCoreError(); err != nil {
		t.Skipf("writes fall back to gathering every P: %v", err)
	}
	if err := syncCores(); err != nil {
		t.Fatalf("registered, yet: %v", err)
	}
}

func syncCoreError() error { return syncCoreRegistration() }

// BenchmarkRedirectParked is BenchmarkRedirect's two writes done the way
// of arm64 and of amd64 kernels without SYNC_CORE: every P gathered for
// each store.
func BenchmarkRedirectParked(b *testing.B) {
	r, err := Redirect(benchTarget, benchReplacement)
	if err != nil {
		b.Fatal(err)
	}
	s := r.site
	jump := loadWord(s.word)
	b.ReportAllocs()
	for b.Loop() {
		process.mu.Lock()
		err := writeWordWith(s, s.orig, parkedCommit)
		if err == nil {
			err = writeWordWith(s, jump, parkedCommit)
		}
		process.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := r.Restore(); err != nil {
		b.Fatal(err)
	}
}

// jumpDest decodes the jump Redirect wrote at r's entry (amd64 JMP rel32,
// arm64 B) and returns where it leads.
func jumpDest(r *Redirection) (uintptr, bool) {
	e := r.site.entry
	switch runtime.GOARCH {
	case "amd64":
		b := readCode(e)
		k := 0 // CS prefixes
		for k < len(b) && b[k] == amd64CS {
			k++
		}
		if k+jumpLen > len(b) || b[k] != 0xE9 {
			return 0, false
		}
		return uintptr(int64(e) + int64(k) + jumpLen + int64(int32(binary.LittleEndian.Uint32(b[k+1:k+5])))), true
	case "arm64":
		insn := uint32(loadWord(e))
		if insn&0xFC000000 != 0x14000000 {
			return 0, false
		}
		return uintptr(int64(e) + int64(int32(insn<<6))>>4), true
	}
	return 0, false
}

// prefixesOf is how many CS prefixes precede the jump at r's entry.
func prefixesOf(r *Redirection) int { return r.site.prefixes }

// TestWritePathRefused: the functions the code write calls cannot be
// targets. Redirecting unix.Mprotect to a no-op used to be accepted, and
// the next Redirect faulted on its store into a read-only page.
func TestWritePathRefused(t *testing.T) {
	for _, f := range []any{unix.Mprotect, unix.MmapPtr, unix.Syscall, syscall.Syscall, syscall.RawSyscall, (*sync.Mutex).Lock, (*sync.Once).Do} {
		fv, err := funcOf(f, "target")
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRuntime(fv.name); !errors.Is(err, ErrRuntimeFunc) || !strings.Contains(err.Error(), "while it writes code") {
			t.Errorf("checkRuntime(%s) = %v, want ErrRuntimeFunc saying why", fv.name, err)
		}
	}
	fv, _ := funcOf(targetGreet, "target")
	if err := checkRuntime(fv.name); err != nil {
		t.Errorf("checkRuntime(%s) = %v", fv.name, err)
	}
}

// TestIsPlainFunc: among compiler-generated functions, those named like a
// package-level function are the ABI wrappers of assembly functions, and
// are refused as such rather than as method wrappers.
func TestIsPlainFunc(t *testing.T) {
	for name, want := range map[string]bool{
		"sync/atomic.AddInt64":                       true,
		"example.com/m/pkg.asmAdd":                   true,
		"example.com/m/pkg.(*T).M":                   false,
		"example.com/m/pkg.T.M":                      false,
		"fmt.Stringer.String":                        false,
		"example.com/m/pkg.v1.F":                     false, // a dot in the last path element: taken for a method, still refused
		"github.com/hotpatch-go/hotpatch/redirect.F": true,
	} {
		if got := isPlainFunc(name); got != want {
			t.Errorf("isPlainFunc(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestMembarrierDenied runs redirections in a process whose seccomp filter
// makes membarrier fail with EPERM, as container runtimes' filters may:
// installed before the first write (the registration fails) and after it
// (registered, then the command fails). Either way the write falls back to
// gathering every P, and every call path stays right.
func TestMembarrierDenied(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("only amd64 writes with membarrier")
	}
	for _, when := range []string{"before", "after"} {
		t.Run(when, func(t *testing.T) {
			runChild(t, "TestChildMembarrierDenied", "HOTPATCH_NATIVE_DENY="+when)
		})
	}
}

func TestChildMembarrierDenied(t *testing.T) {
	inChild(t)
	if os.Getenv("HOTPATCH_NATIVE_DENY") == "after" {
		r, err := Redirect(targetGreet, replGreet) // registers, if the kernel can
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
	}
	if err := denyMembarrier(); err != nil {
		t.Skipf("cannot install a seccomp filter here: %v", err)
	}
	if _, err := membarrier(membarrierCmdQuery); !errors.Is(err, unix.EPERM) {
		t.Fatalf("membarrier under the filter: %v, want EPERM", err)
	}
	t.Logf("registration: %v", syncCoreRegistration())
	hammer(t, 100, targetFramed, replFramed, func(i int) (ok, redirected bool) {
		got := targetFramed(i, 1)
		return got == 3*i+1 || got == -(3*i+1), got == -(3*i + 1)
	})
	if got := targetFramed(2, 1); got != 7 {
		t.Errorf("restored: %d", got)
	}
}

// denyMembarrier installs, on every thread of the process, a seccomp
// filter that fails membarrier(2) with EPERM and allows everything else.
func denyMembarrier() error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_MEMBARRIER},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return errno
	}
	return nil
}

// TestNoTrampolineOneByte: a first instruction of 1 byte (PUSHQ BP, which
// starts //go:nosplit functions with a frame) leaves the jump one address;
// when it is taken the refusal says so, not only that memory ran out.
func TestNoTrampolineOneByte(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 jump placement")
	}
	code := []byte{0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x50} // PUSHQ BP; MOVQ SP, BP; SUBQ $0x50, SP
	const rel = 0x48e58948
	taken := new([4096]byte) // Go heap: mapped
	entry := (uintptr(unsafe.Pointer(&taken[2048])) - jumpLen - rel) &^ 31
	s := &site{entry: entry, word: entry, code: code, codeLen: maxRoom, room: maxRoom}
	process.mu.Lock()
	err := placeTrampoline(s)
	process.mu.Unlock()
	runtime.KeepAlive(taken)
	if !errors.Is(err, ErrNoTrampoline) {
		t.Fatalf("placeTrampoline = %v, want ErrNoTrampoline", err)
	}
	want := fmt.Sprintf("is 1 byte long, so the jump must keep the 4 bytes after it and can lead to %#x only", entry+jumpLen+rel)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "PUSHQ BP") {
		t.Errorf("%v\ndoes not say %q", err, want)
	}
}
