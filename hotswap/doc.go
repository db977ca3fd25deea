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
package hotswap
