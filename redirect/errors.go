package redirect

import "errors"

// Errors returned by this package. Redirect wraps them with the function
// names and addresses involved; match them with [errors.Is].
var (
	// ErrNotSupported is returned where redirection is not implemented:
	// every platform but linux/amd64 and linux/arm64.
	ErrNotSupported = errors.New("redirect: not supported on this platform")

	// ErrNotFunc is returned when the target or the replacement is not a
	// non-nil func value.
	ErrNotFunc = errors.New("redirect: not a non-nil func value")

	// ErrTypeMismatch is returned when the target and the replacement do
	// not have identical func types.
	ErrTypeMismatch = errors.New("redirect: target and replacement types differ")

	// ErrSameFunc is returned when the replacement's code is the target's
	// own code, or leads back to it through redirections in place (A to B
	// while B is redirected to A): the jump would loop forever.
	ErrSameFunc = errors.New("redirect: target and replacement are the same function")

	// ErrRuntimeFunc is returned when the target belongs to the Go runtime
	// or to reflect: the scheduler, the allocator and reflect's call stubs
	// run under this package's own code write, and a reflect.MakeFunc
	// function shares its entry with every other one. It is also returned
	// for the packages the code write calls: sync, sync/atomic, syscall and
	// golang.org/x/sys/unix (a no-op replacement of unix.Mprotect would
	// make the next write fault).
	ErrRuntimeFunc = errors.New("redirect: target belongs to the Go runtime")

	// ErrGenericFunc is returned when the target is an instantiation of a
	// generic function or method (gmax[int]): direct calls run the body
	// shared by every instantiation of the same shape, which a func value
	// of the instantiation does not lead to.
	ErrGenericFunc = errors.New("redirect: target is a generic function instantiation")

	// ErrMethodValue is returned when the target is a method value (x.M):
	// its entry is a compiler-generated "-fm" wrapper that only calls
	// through that func value reach. Redirect the method expression.
	ErrMethodValue = errors.New("redirect: target is a method value wrapper")

	// ErrWrapper is returned when the target is another compiler-generated
	// wrapper, such as (*T).M for a method declared on T or an interface's
	// method expression, which direct calls of the method do not reach.
	ErrWrapper = errors.New("redirect: target is a compiler-generated wrapper")

	// ErrTooShort is returned when the target's machine code is shorter
	// than the jump that would be written over it: the jump would overwrite
	// the next function.
	ErrTooShort = errors.New("redirect: target is shorter than the jump")

	// ErrAlreadyRedirected is returned when the target is already
	// redirected through this package and not yet restored.
	ErrAlreadyRedirected = errors.New("redirect: target is already redirected")

	// ErrEntryModified is returned when the target's entry does not hold
	// what this package expects: it already starts with a jump out of the
	// function (a jump within it is the compiler's own), its bytes
	// changed since this package first saw them, or (from Restore) the
	// jump this package wrote was overwritten. Someone else patched it.
	ErrEntryModified = errors.New("redirect: target entry was modified outside this package")

	// ErrUnaligned is returned when the bytes to rewrite at the target's
	// entry do not fit in one aligned machine word, so they cannot be
	// written with a single atomic store.
	ErrUnaligned = errors.New("redirect: target entry cannot be written atomically")

	// ErrNoTrampoline is returned when no free page could be mapped within
	// jump range of the target to hold its trampoline.
	ErrNoTrampoline = errors.New("redirect: no free memory within jump range of the target")

	// ErrNoRoomForJump is returned on amd64 when no jump can be written at
	// the target's entry without changing one of its later instructions:
	// the first instruction is shorter than the jump, and the addresses
	// the jump could then lead to, with or without CS prefixes, lie
	// outside the address space. Go starts functions whose frame exceeds
	// 4 KiB with such an instruction, whose windows lie below address 0 in
	// a non-PIE executable; the message says which, and what to do.
	ErrNoRoomForJump = errors.New("redirect: no room for a jump that keeps the target's later instructions intact")

	// ErrNotParked is returned where a code write parks every P of the
	// scheduler (arm64, and amd64 kernels without membarrier's SYNC_CORE)
	// and they could not all be parked in time: some goroutine kept a P without
	// reaching a preemption point (for example with GODEBUG=asyncpreemptoff=1).
	ErrNotParked = errors.New("redirect: could not park every P for the code write")
)
