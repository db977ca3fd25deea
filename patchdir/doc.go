// Package patchdir keeps a swap manager in step with a patch directory: a
// file that appears or changes is loaded by the loader that matches its
// name and applied, one that goes is reverted.
//
//	mgr, err := hotswap.New(reg, hotswap.Options{Logger: log})
//	...
//	mgr.Attach(script.New(script.Options{}))
//	w, err := patchdir.Watch(ctx, mgr, "patches", patchdir.Options{})
//	...
//	defer w.Close()
//
// # The contract it is built on
//
// The package uses the public contract of package hotswap only: the loaders
// attached to the manager ([hotswap.Manager.Loaders]), [hotswap.Manager.Load]
// (which runs a loader as user code, with the manager as its host),
// Apply, Revert and Status, [hotswap.Manager.Release] for a loaded patch
// that is not applied, and [hotswap.Manager.Record] for what never became
// a patch (a refused file, a watch error). Anything else that feeds patches
// to a manager (an admin API, a journal replay) can do the same; hotswap
// itself imports neither this package nor the watcher.
//
// # Loads
//
// Files load concurrently, at most [Options.Parallel] at once; each load is
// bounded by [Options.LoadTimeout], and one that ignores its context is
// abandoned ([ErrLoadAbandoned]) so that it holds up neither other files
// nor [Dir.Close]. At start, files apply in name order, so when several
// provide one slot the last name serves it. Every open of a patch file is
// non-blocking and its size is checked before it is read.
//
// # Closing
//
// [Dir.Close] stops the watch; the patches it applied stay applied until
// the manager reverts them (its Close does). Called from a hook of the
// manager (a Load, a Retire hook, the logger's handler), Close stops the
// watch without waiting for work that may be its caller.
package patchdir
