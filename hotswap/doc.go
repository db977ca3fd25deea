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
// (applied, reverted, rolled back, committed, rejected with the reason,
// retired), and
// [Manager.Subscribe] streams them. Each event is also logged through the
// [Options] Logger.
//
// # Failures, probation and rollback
//
// Each failed call of a patch's code counts once, against the version
// that served the call: the patch that served the slot when the call
// began, not the one serving when the failure is known. Three ways feed
// the counts:
//
//   - A loader reports the failures of the code it runs at the boundary
//     that runs it ([Host.ReportFailure]): a panic, before it goes on up;
//     a process call that broke. The host [Manager.Load] gives a loader is
//     bound to the patch that load makes, so its reports count against
//     that patch once it is applied, also when they arrive after a newer
//     version took over.
//   - Code above the slot (an HTTP middleware, a gRPC interceptor, a
//     wrapper) takes a token with [Manager.Begin] before the call and ends
//     it with [Call.End] or [Call.Panic]: the call, and its failure if it
//     failed, count against the version captured by Begin. A panic that a
//     loader reported already is not counted again (it is recognised by
//     value, or as the very value for one that cannot be compared, or as
//     a report for the slot made during the call when it reaches the
//     feeder as another value: a panic that a framework inside the feeder
//     recovered and turned into a 500; with calls in parallel that report
//     may be another call's, and a failure of a call no feeder counts
//     can then hide one that a feeder counts), nor is
//     an error a loader accounted for ([Accounted]), nor an error of the
//     caller's context ending. [Manager.Guard] does this for any call whose
//     outcome is an error, and [Manager.Recovered] for a panic recovered
//     without a token (it counts against the patch serving at that moment).
//   - [Manager.ReportFailure] counts against the patch serving the slot
//     when the report arrives: for reporters that hold no token or bound
//     host.
//
// Feeders nest: a feeder passes the code it calls a context marked with
// its call ([Call.Within]), and a Begin (or Guard) of the same slot with
// that context returns the zero Call, which counts nothing, so a call
// that passes two feeders of one slot (Guard inside an HTTP middleware,
// interceptors installed twice) counts once, in the outer one.
//
// Only feeders count calls; failures are counted whoever reports them. The
// counts are per patch, across all its slots, from its apply on, and never
// reset; a patch applied again starts from zero.
//
// With a [RollbackPolicy], every applied patch is on probation for the
// policy's Window from its apply. It is rolled back automatically as soon
// as its failures reach the policy's Failures, or reach Ratio of its calls
// once it served MinCalls calls: a rolled-back event carries the evidence
// ([Event].Probation: calls, failures, window, thresholds) and an Err
// wrapping [ErrProbationFailed]. The revert runs on a goroutine of the
// manager's; a call that begins through Begin meanwhile waits for it, so
// with every call fed through Begin the calls that fail on a bad patch are
// at most its threshold plus those in flight when it was crossed. When the
// window ends without a rollback, the patch is committed (an
// [EventCommitted] event with the evidence): failures after that are still
// counted and shown, but never roll it back. A patch reverted or replaced
// during its probation is neither committed nor rolled back. Probation
// does not restart when a shadowed patch serves again after a revert above
// it. [Manager.Status] shows each probation ([PatchInfo].Probation).
//
// A call that begins in the instant between a slot's change and the
// publication of the manager's snapshot counts against the version the
// snapshot still shows; a loader called with the manager itself as its
// host (not through [Manager.Load]) reports against what serves when the
// report arrives.
//
// # Hooks and what they may call
//
// User code runs in four places: a patch's Validate hook, its Retire hook,
// the handler of the [Options] Logger, and whatever reads a [Manager.Subscribe]
// channel. What each may call on its own manager (or any other):
//
//   - Validate runs inside [Manager.Apply] while the change holds the
//     manager's change lock. It may call the reading methods (Status,
//     History, Generation, Done, Subscribe), ReportFailure and the call
//     tokens (Begin, End, Panic, Guard). Apply,
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
// RollbackPolicy, the default, puts no patch on probation).
//
// # The patch directory
//
// The glue from a directory to the manager is package patchdir, built on
// this package's public contract only; this package imports neither it nor
// the watcher.
package hotswap
