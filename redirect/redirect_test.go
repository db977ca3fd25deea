package redirect

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Redirection rewrites machine code: a mistake crashes the process. Every
// test that redirects runs in a child: the test binary re-executed with
// childEnv set and -test.run naming one TestChild* function, which skips
// unless it is set.
const childEnv = "HOTPATCH_NATIVE_CHILD"

// runChild runs the test named name in a child process and fails t with the
// child's output if it fails or crashes.
func runChild(t *testing.T, name string, env ...string) {
	t.Helper()
	if !redirectSupported() {
		t.Skipf("redirection not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "--- SKIP: "+name) {
		t.Skipf("child skipped:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
	if testing.Verbose() {
		t.Logf("child output:\n%s", out)
	}
}

func inChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only in a child process started by its parent test")
	}
}

func redirectSupported() bool {
	return runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")
}

// Targets. They are kept out of line: a call the compiler inlined cannot
// be redirected.

//go:noinline
func targetGreet(n int) string { return "old:" + strconv.Itoa(n) }

//go:noinline
func replGreet(n int) string { return "new:" + strconv.Itoa(n) }

//go:noinline
func targetAdd(a, b int) int { return a + b } // a leaf: no stack-check prologue

//go:noinline
func replAdd(a, b int) int { return -(a + b) }

//go:noinline
func targetOther(a, b int) int { return a - b }

//go:noinline
func targetTiny() {}

var tinyCalls atomic.Int32

//go:noinline
func replTiny() { tinyCalls.Add(1) }

// callThrough calls f out of line: the compiler cannot inline through it.
//
//go:noinline
func callThrough(f func(int) int, x int) int { return f(x) }

// inlinable is small enough to be inlined into callInlinable.
func inlinable(x int) int { return x + 1 }

//go:noinline
func callInlinable(x int) int { return inlinable(x) }

type counter struct{ n int }

//go:noinline
func (c *counter) Incr(by int) int { c.n += by; return c.n }

func TestRedirect(t *testing.T)             { runChild(t, "TestChildRedirect") }
func TestRedirectConcurrent(t *testing.T)   { runChild(t, "TestChildRedirectConcurrent") }
func TestRedirectRefusals(t *testing.T)     { runChild(t, "TestChildRedirectRefusals") }
func TestRedirectForeignPatch(t *testing.T) { runChild(t, "TestChildRedirectForeignPatch") }

func TestChildRedirect(t *testing.T) {
	inChild(t)
	t.Run("declared function", func(t *testing.T) {
		if got := targetGreet(1); got != "old:1" {
			t.Fatalf("before: %q", got)
		}
		r, err := Redirect(targetGreet, replGreet)
		if err != nil {
			t.Fatal(err)
		}
		checkJump(t, r)
		if got := targetGreet(2); got != "new:2" {
			t.Errorf("redirected: %q", got)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		if got := targetGreet(3); got != "old:3" {
			t.Errorf("restored: %q", got)
		}
		if err := r.Restore(); err != nil {
			t.Errorf("second Restore: %v, want nil", err)
		}
		// Again, through the same (kept) trampoline.
		r, err = Redirect(targetGreet, replGreet)
		if err != nil {
			t.Fatal(err)
		}
		if got := targetGreet(4); got != "new:4" {
			t.Errorf("redirected again: %q", got)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("leaf function", func(t *testing.T) {
		r, err := Redirect(targetAdd, replAdd)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		checkJump(t, r)
		if got := targetAdd(2, 3); got != -5 {
			t.Errorf("redirected: %d", got)
		}
	})
	t.Run("closure replacement", func(t *testing.T) {
		// Supported: the trampoline passes the closure's context as a
		// closure call does, so captured variables work, and so does
		// state the closure updates.
		offset, calls := 100, 0
		r, err := Redirect(targetAdd, func(a, b int) int { calls++; return a + b + offset })
		if err != nil {
			t.Fatal(err)
		}
		got1 := targetAdd(1, 2)
		offset = 1000
		got2 := targetAdd(1, 2)
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		if got1 != 103 || got2 != 1003 || calls != 2 {
			t.Errorf("closure: got %d, %d after %d calls; want 103, 1003 after 2", got1, got2, calls)
		}
		if got := targetAdd(1, 2); got != 3 {
			t.Errorf("restored: %d", got)
		}
	})
	t.Run("one-instruction function", func(t *testing.T) {
		// targetTiny is a lone RET: the jump spans it and the padding
		// after it, which nothing executes.
		r, err := Redirect(targetTiny, replTiny)
		if err != nil {
			t.Fatal(err)
		}
		checkJump(t, r)
		targetTiny()
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		targetTiny()
		if n := tinyCalls.Load(); n != 1 {
			t.Errorf("replacement ran %d times, want 1", n)
		}
	})
	t.Run("method expression", func(t *testing.T) {
		r, err := Redirect((*counter).Incr, func(c *counter, by int) int { c.n -= by; return c.n })
		if err != nil {
			t.Fatal(err)
		}
		c := &counter{n: 10}
		got := c.Incr(3)
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		if got != 7 || c.Incr(1) != 8 {
			t.Errorf("method: %d, then %d", got, c.n)
		}
	})
	t.Run("inlined call sites keep the original", func(t *testing.T) {
		r, err := Redirect(inlinable, func(x int) int { return x - 1 })
		if err != nil {
			t.Fatal(err)
		}
		out := callThrough(inlinable, 10)
		inl := callInlinable(10)
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		if out != 9 {
			t.Errorf("call through a func value: %d, want 9 (redirected)", out)
		}
		switch inl {
		case 11:
			t.Log("call site where the compiler inlined the target kept the original code, as documented")
		case 9:
			t.Log("call site was not inlined (built with -gcflags=-l?): redirected")
		default:
			t.Errorf("callInlinable = %d", inl)
		}
	})
}

func TestChildRedirectConcurrent(t *testing.T) {
	inChild(t)
	cycles := 10000
	if s := os.Getenv("HOTPATCH_NATIVE_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	t.Run("leaf", func(t *testing.T) {
		// No prologue: goroutines can be preempted at any instruction.
		hammer(t, cycles, targetAdd, replAdd, func(i int) (ok, redirected bool) {
			got := targetAdd(i, 1)
			return got == i+1 || got == -(i+1), got == -(i + 1)
		})
	})
	t.Run("short leaf, prefixed jump", func(t *testing.T) {
		hammer(t, cycles, shortMul, replMul, func(i int) (ok, redirected bool) {
			got := shortMul(i, 3)
			return got == 3*i || got == -3*i, got == -3*i && i != 0
		})
	})
	t.Run("stack-check prologue", func(t *testing.T) {
		hammer(t, cycles, targetFramed, replFramed, func(i int) (ok, redirected bool) {
			got := targetFramed(i, 1)
			return got == 3*i+1 || got == -(3*i+1), got == -(3*i + 1)
		})
	})
}

//go:noinline
func helperMul(a int) int { return a * 3 }

//go:noinline
func targetFramed(a, b int) int { return helperMul(a) + b }

//go:noinline
func replFramed(a, b int) int { return -(helperMul(a) + b) }

// hammer calls check from 8 goroutines while target is redirected to
// replacement and restored cycles times; every result must come from the
// old or the new code, and both must be seen.
func hammer(t *testing.T, cycles int, target, replacement any, check func(int) (ok, redirected bool)) {
	t.Helper()
	hammerCycles(t, cycles, func() error {
		r, err := Redirect(target, replacement)
		if err != nil {
			return err
		}
		return r.Restore()
	}, check)
}

// hammerCycles is hammer with the redirect+restore cycle given.
func hammerCycles(t *testing.T, cycles int, cycle func() error, check func(int) (ok, redirected bool)) {
	t.Helper()
	var stop atomic.Bool
	var calls, seenNew, seenOld, bad atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var n, nNew, nOld, nBad int64
			for i := g; !stop.Load(); i += 8 {
				ok, redirected := check(i)
				switch {
				case !ok:
					nBad++
				case redirected:
					nNew++
				default:
					nOld++
				}
				if n++; n%64 == 0 {
					runtime.Gosched() // calls flow, and the redirecting side gets Ps too
				}
			}
			calls.Add(n)
			seenNew.Add(nNew)
			seenOld.Add(nOld)
			bad.Add(nBad)
		})
	}
	// Garbage collections throughout: each scans the stacks of the
	// calling goroutines, preempted wherever they are, which throws on a
	// PC the runtime has no frame data for (as a jump through alignment
	// padding once left them).
	var gcs atomic.Int64
	wg.Go(func() {
		for !stop.Load() {
			runtime.GC()
			gcs.Add(1)
		}
	})
	// A cycle takes tens of microseconds with membarrier; where every P
	// is gathered instead (arm64, the fallback), about 0.5 ms on an idle
	// 2-core machine, milliseconds when the CPUs are shared with other
	// work. The budget only keeps a slow machine from holding the suite:
	// the test judges results, never speed, so a run cut short by it is
	// logged, not failed, once it has done enough cycles to mean
	// something.
	budget := 3 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("HOTPATCH_NATIVE_BUDGET")); err == nil {
		budget = d
	}
	start := time.Now()
	var err error
	done := 0
	for ; done < cycles && time.Since(start) < budget; done++ {
		if err = cycle(); err != nil {
			break
		}
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d redirect+restore cycles in %v (%v each) under %d calls and %d garbage collections: %d old, %d new results",
		done, elapsed.Round(time.Millisecond), elapsed/time.Duration(max(done, 1)), calls.Load(), gcs.Load(), seenOld.Load(), seenNew.Load())
	if done < cycles {
		t.Logf("only %d of %d redirect+restore cycles within the %v budget (a loaded machine)", done, cycles, budget)
		if done < 100 {
			t.Errorf("only %d redirect+restore cycles ran: too few to judge", done)
		}
	}
	if bad.Load() != 0 {
		t.Errorf("%d results came from neither the old nor the new code", bad.Load())
	}
	if seenNew.Load() == 0 || seenOld.Load() == 0 {
		t.Errorf("saw %d old and %d new results; want both", seenOld.Load(), seenNew.Load())
	}
}

// checkJump fails t unless the jump at r's entry leads straight out of
// every Go function, to the trampoline. A jump to an address inside a Go
// function's range but outside its code (its alignment padding) puts a
// goroutine there that the runtime may preempt asynchronously; the next
// garbage collection then finds no stack-pointer data for that PC and
// throws "invalid runtime symbol table".
func checkJump(t *testing.T, r *Redirection) {
	t.Helper()
	dest, ok := jumpDest(r)
	if !ok {
		t.Fatalf("%v: the entry holds no jump", r)
	}
	if f := runtime.FuncForPC(dest); f != nil {
		t.Errorf("%v: the entry jumps to %#x, inside %s: a goroutine preempted there crashes the garbage collector", r, dest, f.Name())
	}
}

// lowCode reports whether f's code is loaded below 2 GiB (a non-PIE amd64
// executable), where short leaf functions and frames over 4 KiB cannot be
// redirected (see ErrNoRoomForJump).
func lowCode(f any) bool {
	fv, _ := funcOf(f, "target")
	return runtime.GOARCH == "amd64" && fv.code < 1<<31
}

// checkNoRoom fails t unless err is the refusal of a target whose jump
// windows lie outside the address space, saying why and what to do.
func checkNoRoom(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNoRoomForJump) {
		t.Fatalf("Redirect = %v, want ErrNoRoomForJump", err)
	}
	for _, want := range []string{"outside the address space", "alignment padding is not used", "-buildmode=pie"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}

func TestChildRedirectRefusals(t *testing.T) {
	inChild(t)
	tests := []struct {
		name                string
		target, replacement any
		want                error
	}{
		{"target not a func", 42, replAdd, ErrNotFunc},
		{"replacement not a func", targetAdd, "x", ErrNotFunc},
		{"nil target", nil, replAdd, ErrNotFunc},
		{"nil func value", (func(int, int) int)(nil), replAdd, ErrNotFunc},
		{"types differ", targetAdd, func(a int) int { return a }, ErrTypeMismatch},
		{"named vs unnamed type", targetAdd, namedAdd(replAdd), ErrTypeMismatch},
		{"same function", targetAdd, targetAdd, ErrSameFunc},
		{"runtime function", runtime.Gosched, func() {}, ErrRuntimeFunc},
		{"sync", (*sync.Mutex).Lock, func(*sync.Mutex) {}, ErrRuntimeFunc},
		{"sync.WaitGroup", (*sync.WaitGroup).Wait, func(*sync.WaitGroup) {}, ErrRuntimeFunc},
		{"sync/atomic", atomic.AddInt64, func(*int64, int64) int64 { return 0 }, ErrRuntimeFunc},
		{"syscall", syscall.Getpid, func() int { return 1 }, ErrRuntimeFunc},
		{"reflect.MakeFunc stub", reflect.MakeFunc(reflect.TypeOf(targetAdd), nil).Interface(), replAdd, ErrRuntimeFunc},
		{"generic instantiation", gmax[int], func(a, b int) int { return 0 }, ErrGenericFunc},
		{"generic instantiation, other shape", gmax[string], func(a, b string) string { return "" }, ErrGenericFunc},
		{"method of a generic type", (*box[int]).Get, func(*box[int]) int { return 0 }, ErrGenericFunc},
		{"method value", (&counter{}).Incr, func(int) int { return 0 }, ErrMethodValue},
		{"pointer wrapper of a value method", (*vpoint).X, func(*vpoint) int { return 0 }, ErrWrapper},
		{"interface method expression", fmt.Stringer.String, func(fmt.Stringer) string { return "" }, ErrWrapper},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Redirect(tt.target, tt.replacement)
			if !errors.Is(err, tt.want) {
				t.Errorf("Redirect = %v, %v; want %v", r, err, tt.want)
			}
			if r != nil {
				r.Restore()
			}
		})
	}
	t.Run("too short", func(t *testing.T) {
		// Go functions are aligned (32 bytes on amd64, 16 on arm64) and
		// the alignment padding after a function is free for the jump,
		// so no Go function is too short; a function with less room than
		// the jump before the next one is refused.
		if err := checkRoom("f", jumpLen-1); !errors.Is(err, ErrTooShort) {
			t.Errorf("checkRoom(%d) = %v, want ErrTooShort", jumpLen-1, err)
		}
		if err := checkRoom("f", jumpLen); err != nil {
			t.Errorf("checkRoom(%d) = %v, want nil", jumpLen, err)
		}
	})
	t.Run("redirection cycle", func(t *testing.T) {
		r, err := Redirect(targetOther, targetAdd)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		if r2, err := Redirect(targetAdd, targetOther); !errors.Is(err, ErrSameFunc) {
			if r2 != nil {
				r2.Restore()
			}
			t.Fatalf("Redirect back = %v, want ErrSameFunc", err)
		}
		// A chain that does not loop is allowed: targetOther runs
		// targetAdd, which runs replAdd.
		r2, err := Redirect(targetAdd, replAdd)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Restore()
		if got := targetOther(5, 2); got != -7 {
			t.Errorf("chained: %d, want -7", got)
		}
	})
	t.Run("already redirected", func(t *testing.T) {
		r, err := Redirect(targetOther, replAdd)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Redirect(targetOther, targetAdd)
		if !errors.Is(err, ErrAlreadyRedirected) {
			t.Errorf("second Redirect = %v, want ErrAlreadyRedirected", err)
		}
		if got := targetOther(5, 2); got != -7 {
			t.Errorf("first redirection disturbed: %d", got)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		r, err = Redirect(targetOther, targetAdd)
		if err != nil {
			t.Fatalf("Redirect after Restore: %v", err)
		}
		if got := targetOther(5, 2); got != 7 {
			t.Errorf("redirected anew: %d", got)
		}
		r.Restore()
	})
}

type namedAdd func(int, int) int

//go:noinline
func gmax[T int | string](a, b T) T {
	if a > b {
		return a
	}
	return b
}

type box[T any] struct{ v T }

//go:noinline
func (b *box[T]) Get() T { return b.v }

type vpoint struct{ x int }

//go:noinline
func (p vpoint) X() int { return p.x }

func TestRedirectGenericCallPaths(t *testing.T) { runChild(t, "TestChildRedirectGenericCallPaths") }

// TestChildRedirectGenericCallPaths shows why instantiations are refused:
// a direct call of gmax[int] does not go through the entry of the func
// value gmax[int]. Redirecting that entry by hand (as Redirect did before
// it refused) changes calls through the func value only.
func TestChildRedirectGenericCallPaths(t *testing.T) {
	inChild(t)
	f, _ := funcOf(gmax[int], "target")
	repl := func(a, b int) int { return -1 }
	r, _ := funcOf(repl, "replacement")
	red, err := redirect(f, r)
	if err != nil {
		t.Fatal(err)
	}
	viaValue := callGmax(gmax[int])
	direct := gmax(1, 2)
	if err := red.Restore(); err != nil {
		t.Fatal(err)
	}
	if viaValue != -1 || direct != 2 {
		t.Fatalf("through the func value %d, direct %d; want -1 and 2: the call paths no longer differ, revisit ErrGenericFunc", viaValue, direct)
	}
	if _, err := Redirect(gmax[int], repl); !errors.Is(err, ErrGenericFunc) {
		t.Errorf("Redirect(gmax[int]) = %v, want ErrGenericFunc", err)
	}
}

//go:noinline
func callGmax(f func(int, int) int) int { return f(1, 2) }

// bigFrame's frame exceeds 4 KiB, so its prologue starts with the 3-byte
// MOVQ SP, R12.
//
//go:noinline
func bigFrame(i int) int {
	var buf [8192]byte
	buf[i%len(buf)] = byte(i)
	return int(buf[(i+1)%len(buf)]) + i
}

func TestRedirectBigFrame(t *testing.T) { runChild(t, "TestChildRedirectBigFrame") }

func TestChildRedirectBigFrame(t *testing.T) {
	inChild(t)
	f, _ := funcOf(bigFrame, "target")
	first := x86Insn(readCodeForTest(f.code))
	r, err := Redirect(bigFrame, func(i int) int { return -i })
	if lowCode(bigFrame) && errors.Is(err, ErrNoRoomForJump) {
		// Its windows lie about 2 GiB below the entry, below address 0,
		// with or without prefixes.
		checkNoRoom(t, err)
		for _, want := range []string{"MOVQ SP, R12", "frame exceeds 4 KiB"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not say %q", err, want)
			}
		}
		t.Skipf("refused in code loaded low, with the reason: %v", err)
	}
	if err != nil {
		t.Fatalf("Redirect(bigFrame) = %v", err)
	}
	checkJump(t, r)
	t.Logf("%v: first instruction %s", r, first)
	if got := bigFrame(5); got != -5 {
		t.Errorf("redirected: %d", got)
	}
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := bigFrame(5); got != 5 {
		t.Errorf("restored: %d", got)
	}
}

//go:noinline
func targetForeign(a, b int) int { return a * b }

//go:noinline
func targetForeign2(a, b int) int { return a*b + 1 }

func TestChildRedirectForeignPatch(t *testing.T) {
	inChild(t)
	t.Run("entry already holds a jump", func(t *testing.T) {
		// Someone else's patch, before this package ever saw the target.
		undo := foreignPatch(t, targetForeign2, replAdd)
		_, err := Redirect(targetForeign2, targetAdd)
		undo()
		if !errors.Is(err, ErrEntryModified) {
			t.Errorf("Redirect = %v, want ErrEntryModified", err)
		}
	})
	t.Run("entry changed since first seen", func(t *testing.T) {
		r, err := Redirect(targetForeign, replAdd)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
		undo := foreignPatch(t, targetForeign, targetAdd)
		_, err = Redirect(targetForeign, replAdd)
		undo()
		if !errors.Is(err, ErrEntryModified) {
			t.Errorf("Redirect = %v, want ErrEntryModified", err)
		}
	})
	t.Run("restore after a foreign write", func(t *testing.T) {
		r, err := Redirect(targetForeign, replAdd)
		if err != nil {
			t.Fatal(err)
		}
		undo := foreignPatch(t, targetForeign, targetAdd)
		if err := r.Restore(); !errors.Is(err, ErrEntryModified) {
			t.Errorf("Restore = %v, want ErrEntryModified", err)
		}
		undo()
		if err := r.Restore(); err != nil {
			t.Errorf("Restore once the foreign write is undone: %v", err)
		}
		if got := targetForeign(3, 4); got != 12 {
			t.Errorf("restored: %d", got)
		}
	})
}

// foreignPatch writes a jump from target to replacement's code the way a
// patcher that knows nothing of this package would, and returns a func that
// puts the previous bytes back.
func foreignPatch(t *testing.T, target, replacement any) (undo func()) {
	t.Helper()
	tf, _ := funcOf(target, "target")
	rf, _ := funcOf(replacement, "replacement")
	prev, err := writeForeignJump(tf.code, rf.code)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := writeForeignJump(tf.code, 0, prev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRedirectARM64UnderQEMU(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("builds an arm64 test binary from a linux/amd64 host")
	}
	if testing.Short() {
		t.Skip("-short: skips building and emulating an arm64 test binary")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-aarch64-static not installed (apt-get install qemu-user-static): arm64 redirection not exercised")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		t.Skipf("no go command at %s", goTool)
	}
	bin := filepath.Join(t.TempDir(), "redirect.arm64.test")
	build := exec.Command(goTool, "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -buildvcs=false"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the arm64 test binary: %v\n%s", err, out)
	}
	for _, name := range []string{"TestChildRedirect", "TestChildRedirectRefusals", "TestChildRedirectForeignPatch", "TestChildRedirectConcurrent", "TestChildRedirectShortLeaf", "TestChildRedirectBigFrame", "TestChildRedirectGenericCallPaths", "TestChildUnparkedStores", "TestChildDirectCalls", "TestChildNotParked", "TestChildRedirectRecursive", "TestChildRedirectLoopEntry"} {
		cmd := exec.Command(qemu, bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
		// Emulated, a cycle takes up to tens of milliseconds: 300 cycles
		// per target keep the package's tests within their time budget.
		cmd.Env = append(os.Environ(), childEnv+"=1", "HOTPATCH_NATIVE_CYCLES=300", "HOTPATCH_NATIVE_BUDGET=2m")
		if name == "TestChildNotParked" {
			// Every arm64 write gathers the Ps: with time.Now fixed, it
			// must still give up in time.
			cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1", "HOTPATCH_NATIVE_FIXED_CLOCK=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
			t.Fatalf("arm64 %s under qemu: %v\n%s", name, err, out)
		}
		if testing.Verbose() {
			t.Logf("arm64 %s:\n%s", name, lastLines(string(out), 12))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestRedirectNotSupported(t *testing.T) {
	if redirectSupported() {
		t.Skip("redirection is supported here")
	}
	if _, err := Redirect(targetAdd, replAdd); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Redirect = %v, want ErrNotSupported", err)
	}
}

// Short leaf targets: one instruction of 3 or 4 bytes, then RET. A plain
// jump must keep the RET byte as its displacement's top byte, which puts
// its trampoline about 1 GiB below the entry: below address 0 for code
// loaded low (a non-PIE amd64 executable). A jump after a CS prefix moves
// the RET byte down the displacement and reaches a window near the entry.
// (They used to be redirected through a jump in the alignment padding
// after the RET, which crashed the garbage collector once a goroutine was
// preempted on that jump; checkJump guards against it.)

//go:noinline
func shortMul(a, b int) int { return a * b }

//go:noinline
func replMul(a, b int) int { return -a * b }

type pair struct{ a, b int }

//go:noinline
func (p *pair) B() int { return p.b }

// adder returns a closure whose body is one ADDQ from its context, then RET.
//
//go:noinline
func adder(k int) func(int) int { return func(x int) int { return x + k } }

func TestRedirectShortLeaf(t *testing.T) { runChild(t, "TestChildRedirectShortLeaf") }

func TestChildRedirectShortLeaf(t *testing.T) {
	inChild(t)
	add7 := adder(7)
	for _, tc := range []struct {
		name        string
		target      any
		replacement any
		call        func() int
		old, new    int
	}{
		{"multiply", shortMul, func(a, b int) int { return a + b }, func() int { return shortMul(6, 7) }, 42, 13},
		{"getter", (*pair).B, func(p *pair) int { return -p.b }, func() int { return (&pair{1, 5}).B() }, 5, -5},
		{"closure", add7, func(x int) int { return x - 7 }, func() int { return add7(10) }, 17, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 3 { // later rounds reuse the trampoline
				if got := tc.call(); got != tc.old {
					t.Fatalf("round %d, before: %d, want %d", round, got, tc.old)
				}
				r, err := Redirect(tc.target, tc.replacement)
				if err != nil {
					t.Fatal(err)
				}
				if round == 0 {
					t.Logf("%v: %d CS prefixes before the jump", r, prefixesOf(r))
					// Code loaded below 2 GiB (a non-PIE executable) puts
					// the plain jump's window below address 0.
					if lowCode(tc.target) && !raceEnabled && prefixesOf(r) == 0 {
						t.Errorf("no CS prefix: the prefixed jump was not exercised")
					}
				}
				checkJump(t, r)
				if got := tc.call(); got != tc.new {
					t.Errorf("round %d, redirected: %d, want %d", round, got, tc.new)
				}
				if err := r.Restore(); err != nil {
					t.Fatal(err)
				}
				if got := tc.call(); got != tc.old {
					t.Errorf("round %d, restored: %d, want %d", round, got, tc.old)
				}
			}
		})
	}
}
