package hotswap

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/hookframe"
)

// User code (Validate and Retire hooks, the logger's handler) runs inside one
// of two frames, so that a manager method can tell from its own stack,
// without goroutine identities, that it was called back from such code:
//
//   - runLocked runs code while a change holds the manager's change lock (a
//     Validate hook). A call that needs the lock cannot work from there.
//   - runUnlocked runs code that holds no lock (Retire hooks, the logger,
//     the directory glue's release of refused loads). Changes work from
//     there; only Close must not wait for the goroutine that calls it.

// userFrame says which runner frames a goroutine's stack holds.
type userFrame uint8

const (
	inLocked userFrame = 1 << iota
	inUnlocked
)

var (
	lockedEntry   = hookframe.Entry(runLocked)
	unlockedEntry = hookframe.Entry(runUnlocked)
)

// callerFrames reports the runner frames on the calling goroutine's stack.
// It walks the whole stack, so it is kept off hot paths: only a call that
// would wait on the change lock, and Close, use it.
func callerFrames() userFrame {
	// The bits of Which follow the order of the entries: inLocked,
	// inUnlocked.
	return userFrame(hookframe.Which(lockedEntry, unlockedEntry))
}

// runLocked runs a hook while the change lock is held. It must not be
// inlined: its frame is what callerFrames looks for.
//
//go:noinline
func runLocked(f func() error) error {
	return f()
}

// runUnlocked runs user code that holds no lock. It must not be inlined.
//
//go:noinline
func runUnlocked(f func() error) error {
	return f()
}

// callHook runs a user hook, turning a panic into a *PanicError.
func callHook(ctx context.Context, hook func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return hook(ctx)
}

// reentrant returns the error for method called while the change lock is
// held by a change that runs a hook described by what, from inside a hook
// that holds a change lock: the caller's own Validate hook (waiting would
// never end), or another manager's while this one runs its own (two
// managers waiting on each other).
func reentrant(method, what string) error {
	return fmt.Errorf("%w: %s called from inside %s, which runs while the change lock is held; "+
		"a Validate hook may read the manager (Status, History, Generation) and report failures, "+
		"but not change it or close it", ErrReentrant, method, what)
}

// abandonGrace is how long a Retire hook may run on after its context
// ended before it is abandoned; at most RetireTimeout.
const abandonGrace = 2 * time.Second

// InHook reports whether the calling goroutine runs code that a manager
// called: a load run by [Manager.Load], a Validate or Retire hook, a
// loader's Close, the logger's handler. A Close of something that waits
// for its own background work (a directory watch) must not wait when
// called from there, since that work may be its caller; the manager's own
// Close behaves so.
func InHook() bool { return callerFrames() != 0 }
