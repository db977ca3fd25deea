// Package hotswap applies and reverts patches on the slots of a registry.
//
// # The manager
//
// A [Manager] is the only writer of the slots of one [registry.Registry].
// [Manager.Apply] checks a [Patch] — every implementation's dynamic type must
// equal its slot's type exactly, every slot must exist, the ID must be new —
// runs the patch's Validate hook, and then swaps all of its implementations
// at once. On any error nothing changes and the error says what is wrong
// with which slot. Applies and reverts are serialized; calls through slots
// never wait for them.
//
// # The patch stack
//
// Applied patches form a stack, as Linux livepatches do. A slot serves the
// top-most patch that provides it, or its baseline. [Manager.Revert] removes
// a patch from anywhere in the stack and recomputes each slot it served. A
// patch that left the stack is retired: its Retire hook runs once, in the
// background, to drain in-flight calls and release what the patch holds (an
// interpreter, a subprocess). A patch that is only shadowed by patches above
// it stays in the stack and keeps its resources, since a revert above it
// makes it serve again. [Patch.Replaces] swaps a new version of a patch in
// and the old one out in a single step, so no moment serves the baseline by
// accident.
//
// # Generations, status and events
//
// A generation counter rises on every change. [Manager.Status] returns a
// consistent picture (slot versions and the stack) without waiting for a
// change in progress. [Manager.History] keeps a bounded log of events
// (applied, reverted, rolled back, rejected with the reason, retired), and
// [Manager.Subscribe] streams them. Each event is also logged through the
// [Options] Logger.
//
// # Failures and rollback
//
// Adapters (HTTP middleware, gRPC interceptors, loaders) report failed calls
// with [Manager.ReportFailure]. With a [RollbackPolicy], a patch that
// collects enough failures soon after it became current is reverted
// automatically, with a rolled-back event that says why.
//
// # Hooks and what they may call
//
// User code runs in four places: a patch's Validate hook, its Retire hook,
// the handler of the [Options] Logger, and whatever reads a [Manager.Subscribe]
// channel. What each may call on its own manager (or any other):
//
//   - Validate runs inside [Manager.Apply] while the change holds the
//     manager's change lock. It may call the reading methods (Status,
//     History, Generation, Done, Subscribe) and ReportFailure. Apply,
//     Revert, RollBack and Close would wait for the lock it holds: they
//     fail at once with [ErrReentrant], which names the method and the
//     hook. So do those calls from inside any Validate hook into a
//     manager that is itself running a Validate hook, which would
//     otherwise let two managers wait on each other.
//   - Retire runs on a goroutine of its own, with no lock held (also when
//     the directory glue releases a refused load). Every method works.
//     Close called from it starts the shutdown and returns without waiting
//     for background work, which includes the retire calling it; a Close
//     from elsewhere still waits for everything. Apply after Close fails
//     with [ErrClosed].
//   - The logger's handler runs after the change lock is released, in the
//     order of the history. Every method works, as from Retire (Close does
//     not wait; [DirWatch.Close] neither, also when the handler runs on the
//     watch's own loop). A handler that panics loses that record only: the
//     panic is recovered and the change, and the retires it starts, go on.
//   - Close called from inside any of these hooks, of any manager, never
//     waits for background work; it returns once the shutdown is started.
//   - Subscribers read a channel on their own goroutines: the manager never
//     runs their code, and they may call anything.
//   - The rollback path ([Manager.ReportFailure]) runs user code only
//     through the hooks above: a rolled-back patch's Retire and the logger.
//
// A call is recognised as coming from a hook by the manager's frames on the
// calling goroutine's stack, not by the context it passes: a hook may use
// the context it was given or any other. Work a hook starts on goroutines
// of its own is not inside the hook: a Validate hook that waits for a
// goroutine of its own calling Apply, Revert, RollBack or Close waits for
// ever, unless that goroutine's context ends; a Retire hook that waits for
// one calling Close waits until it is abandoned (RetireTimeout and a
// grace). Call from the hook itself, or do not wait.
//
// # Loaders
//
// [Loader] is the interface through which patch files of each kind (script,
// native, process) become patches. It is declared here, where it is
// consumed; loaders live in the loader/ packages and this package never
// imports them.
//
// # Closing
//
// [Manager.Close] puts every slot back to its baseline, retires every
// applied patch, waits for background work, and closes subscriber channels.
// Each Retire hook has Options.RetireTimeout; one that ignores its context
// is abandoned soon after ([ErrRetireAbandoned], on its retired event), so
// it does not hold Close. A change in progress is waited for: a Validate
// hook that never returns holds Close too (bound it with Apply's context).
// The reverts it records are not failures: their Err is nil and their
// Note says the manager closed.
//
// # The patch directory
//
// [Watch] keeps a manager in step with a directory (see its documentation
// and the watcher package): a file that appears or changes is loaded and
// applied, one that goes is reverted. Files load concurrently, at most
// [WatchOptions.Parallel] at once; each load is bounded by
// [WatchOptions.LoadTimeout], and one that ignores its context is abandoned
// ([ErrLoadAbandoned]) so that it holds up neither other files nor
// [DirWatch.Close]. At start, files apply in name order, so when several
// provide one slot the last name serves it. Every open of a patch file is
// non-blocking and its size is checked before it is read.
package hotswap
