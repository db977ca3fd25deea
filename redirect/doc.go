// Package redirect rewrites the entry of a Go function so that every call
// that reaches it runs new code: hotpatch's machine level, for functions
// that were never registered as slots.
//
// It imports nothing of hotpatch. The loader of native patches
// (loader/native) redirects the functions a patch lists with it.
//
// # Redirection
//
// [Redirect] rewrites the entry of a Go function so that every call that
// reaches it runs a replacement of the identical func type, and
// [Redirection.Restore] puts the original entry back. It is meant for
// functions that were never registered as slots (registered slots swap by
// pointer, which needs none of this): the replacement may come from the
// binary itself or from a loaded plugin.
//
//	r, err := redirect.Redirect(pricing.Discount, patch.Discount)
//	...
//	err = r.Restore()
//
// Redirections do not stack: redirecting a target that is already
// redirected through this package fails with [ErrAlreadyRedirected]; to
// change the replacement, restore and redirect again. (The patch stack of
// package hotswap decides which replacement is current; this package only
// writes it.) Restore is idempotent.
//
// The replacement may be any func value, closures included: the jump
// passes the replacement's closure context (its funcval, in RDX on amd64
// and R26 on arm64) exactly as a Go closure call does, so captured
// variables work. The replacement value is kept reachable while it is in
// use.
//
// While the target is redirected, nothing can call its original code: a
// replacement that calls the target (directly, or through a func value
// taken before the redirect) reaches the replacement again. A recursive
// replacement may therefore recurse through the target, and every level
// runs the replacement; but a replacement meant to wrap the original
// (log, then call the target) recurses until the goroutine's stack
// overflows, which kills the process: copy the original body into the
// replacement instead. A recursion in flight at the redirect runs its
// deeper levels in the replacement (TestChildRedirectRecursive).
//
// Each of these is refused with its own error, before anything is written:
// a target or replacement that is not a non-nil func ([ErrNotFunc]),
// different types ([ErrTypeMismatch]), the target as its own replacement,
// directly or through redirections in place ([ErrSameFunc]), a function of the Go runtime or reflect, which run under
// the write itself, or of sync, syscall or golang.org/x/sys/unix, which it
// calls ([ErrRuntimeFunc]), an instantiation of a generic
// function or method, whose direct calls go to a body shared by its shape
// and not through its entry ([ErrGenericFunc]), a method value's "-fm"
// wrapper ([ErrMethodValue]) and other compiler-generated wrappers
// ([ErrWrapper]), a target with fewer bytes than the jump before the next
// function ([ErrTooShort]), a target already redirected ([ErrAlreadyRedirected]),
// and a target whose entry someone else rewrote: it starts with a jump out
// of the function, or its bytes differ from what this package recorded
// when it first saw it ([ErrEntryModified]). (A jump within the function
// is the compiler's: a frameless leaf whose body is a loop starts with a
// jump to the loop's condition, and is redirected like any other.) Restore refuses, with [ErrEntryModified], to
// overwrite a jump that is no longer the one it wrote.
//
// # How the entry is rewritten
//
// The entry's first machine word (8 bytes on amd64, the first 4-byte
// instruction on arm64) is replaced with a single aligned atomic store by a
// jump to a per-target trampoline, mapped within jump range of the target
// and never unmapped. The trampoline loads the replacement's funcval from a
// data word and jumps through it. On amd64 the 5-byte JMP rel32 is placed so
// that it changes no byte of any instruction but the first: its
// displacement's high bytes equal the original bytes they overwrite, which
// pins the trampoline to an address window (16 MiB wide for Go's
// stack-check prologue); bytes of the alignment padding after the last
// instruction are free. One to three CS prefixes (ignored in 64-bit mode)
// before the JMP move its displacement onto other bytes, and so to other
// windows: short leaf functions (IMULQ BX, AX; RET) in code loaded below
// 2 GiB need them. When no window can be mapped (functions with frames
// over 4 KiB in code loaded below 2 GiB), the target is refused with
// [ErrNoRoomForJump] and the reason; build with -buildmode=pie. The jump
// never goes through alignment padding: a goroutine preempted there would
// crash the garbage collector's stack scan. So a thread stopped at any instruction boundary of the
// target, running or preempted, resumes into intact original code; only
// the first instruction is ever replaced. Instructions are sized with
// golang.org/x/arch/x86/x86asm; see docs/redirection.md for the gaps of
// that decoder this package closes.
//
// On amd64 the store is followed by
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), which returns
// once every thread of the process, with or without a P, has executed a
// serializing instruction, as the architecture requires of cross-modifying
// code before the new bytes run. The process registers for it once, on its
// first write (Linux 4.16 and later). Where the kernel does not offer it,
// and always on arm64 (whose rules forbid running an entry while its
// instruction changes between these kinds), the store happens while every
// P of the scheduler is held by a goroutine of this package spinning in
// assembly: no other goroutine runs Go code at that instant, and every
// thread that holds a P executes a serializing instruction (CPUID on amd64;
// ISB after DC CVAU, IC IVAU and DSB on arm64) right after it. The page is
// made writable for just that long. See docs/redirection.md in the
// repository for the full argument and its limits.
//
// BenchmarkRedirect (a Redirect and a Restore) takes about 20 µs on amd64
// with membarrier, at any GOMAXPROCS. Gathering every P instead costs about
// the time the kernel takes to wake a thread on another CPU, twice: 0.3 to
// 0.8 ms with two Ps on this project's 2-vCPU virtual machine, and longer
// when every P is busy (a goroutine that runs without reaching a
// preemption point holds its P until the runtime preempts it, about 10
// ms). A write that cannot gather every P within 5 seconds (for example,
// with GODEBUG=asyncpreemptoff=1 and a goroutine spinning in a loop
// without calls) fails with [ErrNotParked] and changes nothing.
//
// # Inlining
//
// A call site where the compiler inlined the target does not go through
// its entry and keeps running the original code; only calls that reach the
// out-of-line body (calls through func values, calls from functions the
// target was not inlined into, and any call when inlining is off) are
// redirected. Taking the target as a func value to pass it to Redirect
// always leaves an out-of-line body, so Redirect itself cannot tell whether
// some call sites were inlined. Mark functions meant to be redirected
// //go:noinline, or build with -gcflags=-l for the packages that hold
// them (hotpatch build is to produce baselines built that way).
//
// # Detecting inlined call sites
//
// [Redirection.DirectCalls] counts the direct calls to the target's entry
// in the code of its module (the executable, or the plugin that holds the
// target): CALL rel32 and tail-call JMP rel32 on amd64, BL and B on arm64.
// It scans that module's text on first use (about half a millisecond per
// megabyte of code on amd64) and caches the count; Redirect itself does not
// scan. Zero means one of two things: the compiler inlined every call site
// of the target in its module, so those calls are not redirected, or the
// target is only ever called through func values or interfaces, which are
// redirected. It is a diagnostic: Redirect does not refuse such a target.
// A count above zero does not prove that no call site was inlined, only
// that some are not: the compiler may inline a function at some call sites
// and not at others. Calls from other modules (a plugin calling into the
// executable) are not counted.
//
// Redirect targets declared functions and method expressions ((*T).M for
// a method declared on *T, T.M for one declared on T). A method value
// (x.M) is a compiler-generated wrapper and is refused with
// [ErrMethodValue]; so are other wrappers ([ErrWrapper]) and generic
// instantiations ([ErrGenericFunc]).
//
// # Platforms
//
// Redirection works on linux/amd64 and linux/arm64, with or without the
// race detector; on every other platform [Redirect] returns
// [ErrNotSupported]. (macOS would need its
// code-signing rules for writable text pages to be handled and is not
// attempted.)
package redirect
