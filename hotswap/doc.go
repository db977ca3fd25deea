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
// Each failed call through a slot is counted once, against the patch
// serving the slot. Loaders report the failures of the code they run
// ([Host.ReportFailure]) at the boundary that runs it, before the panic or
// error goes on up; code above the slot (an HTTP middleware, a gRPC
// interceptor) reports what it recovers through [Manager.Recovered], which
// counts a panic only if no loader reported it already. So a failure is
// counted once for every kind, with or without a middleware.
//
// Failures are counted per patch, across all the slots it serves, from the
// moment it was applied, and the count is never reset. With a
// [RollbackPolicy], the patch is reverted automatically (a rolled-back
// event says why) when a failure brings its count to Failures while within
// Window of the moment the patch became current for the slot that failed.
// A failure reported later than that never rolls it back: Window is the
// patch's probation.
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
//     [Manager.Release] releases a refused load). Every method works.
//     Close called from it starts the shutdown and returns without waiting
//     for background work, which includes the retire calling it; a Close
//     from elsewhere still waits for everything. Apply after Close fails
//     with [ErrClosed].
//   - The logger's handler runs after the change lock is released, in the
//     order of the history. Every method works, as from Retire (Close does
//     not wait; nor does the Close of a directory watch that checks
//     [InHook], also when the handler runs on the watch's own loop). A
//     handler that panics loses that record only: the panic is recovered
//     and the change, and the retires it starts, go on.
//   - A load run by [Manager.Load] and a loader's Close run as the hooks
//     that hold no lock: every method works, and Close does not wait.
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
// # Loaders and the host contract
//
// [Loader] is the interface through which patch files of each kind become
// patches, and [Host] what a loader may ask of the manager: the slot of a
// name with its exact type ([Host.Slot]), failure reports, a rollback,
// recording an event that did not come from a change ([Host.Record]: a
// file refused before it became a patch, a restart, a warning) and the
// logger. Both are declared here, where they are consumed; [*Manager]
// implements Host, and this package never imports a loader.
//
// A loader receives the host with every [Loader.Load] rather than once,
// when it is attached: a loader then holds no registry or manager of its
// own, so it cannot be wired to the wrong one and has no state in which it
// is not wired yet; a patch keeps the host that loaded it for what happens
// later (a failed call, a process to restart); and a tool can load a file
// against a manager to check it without the manager owning the loader.
// Ownership is the separate step [Manager.Attach]: an attached loader is
// found by the directory glue and other tools ([Manager.Loaders]) and
// closed by [Manager.Close]. Kinds are open: a loader of an application's
// own names its own [Kind], and the manager accepts it.
//
// Every loader wraps the same errors for the same meanings, so callers
// match them whichever loader produced them: [ErrUnknownSlot],
// [*TypeMismatchError], [ErrClosed] and, for patches built against another
// binary, [ErrBaselineChanged] (the manager itself never returns it).
//
// # Closing
//
// [Manager.Close] puts every slot back to its baseline, retires every
// applied patch, waits for background work, closes the attached loaders
// (newest first), gives the registry back and closes subscriber channels.
// It never blocks past its context: the shutdown goes on in the background
// and a later Close waits for it again. Each Retire hook has
// Options.RetireTimeout; one that ignores its context is abandoned soon
// after ([ErrRetireAbandoned], on its retired event), so it does not hold
// Close. A change in progress is waited for within the context: a Validate
// hook that never returns holds the shutdown (bound it with Apply's
// context). The reverts it records are not failures: their Err is nil and
// their Note says the manager closed.
//
// # Options
//
// In [Options] and [RollbackPolicy], as in every Options struct of the
// module, a zero field means its documented default; where a feature can
// be off, its default is off or a negative value turns it off (a zero
// RollbackPolicy.Failures is the default, no automatic rollback).
//
// # The patch directory
//
// The glue from a directory to the manager is package patchdir, built on
// this package's public contract only; this package imports neither it nor
// the watcher.
package hotswap
