// Package hotpatch embeds the whole framework in a server with one import:
// a registry of patchable slots, the manager that swaps them, the loaders of
// the three kinds of patch and the watch of a patch directory.
//
//	hp, err := hotpatch.New(hotpatch.Options{Dir: "./patches", Logger: log})
//	if err != nil {
//		return err
//	}
//	greet := hotpatch.MustRegister(hp, "example.Greet", greetBaseline)
//	if err := hp.Start(ctx); err != nil {
//		return err
//	}
//	defer hp.Close(context.Background())
//
// Calls go through the slot: greet.Load()(name) runs whatever serves
// example.Greet now. Files dropped into Dir are loaded by kind: *.go scripts
// (interpreted by yaegi), *.so native patches (Go plugins built by
// `hotpatch patch build` against this binary) and *.proc process patches
// (executables built by `hotpatch patch build --kind process`).
//
// # Lifecycle
//
// [New] makes the registry and the manager, and attaches a loader of each
// kind to the manager, which owns them. The slots are registered next,
// with [Register] or [MustRegister]; [Runtime.Start] then applies what the
// patch directory holds (in name order) and watches it. Register slots
// before Start: a patch for a slot that is not registered yet is refused.
// [Runtime.Close] stops the watch and closes the manager, which reverts
// every slot to its baseline, retires every patch (scripts drain,
// processes finish their calls and stop) and then closes the loaders; it
// returns when done or when its context ends.
//
// # Failures
//
// [Runtime.Handler] wraps an HTTP handler whose logic is a slot: a panic in
// it becomes a 500 and is logged. Each request counts as a call of the
// patch that served it, and a panic or a 5xx answer as one failure, for
// the patch's probation (Options.Rollback, see [hotswap.RollbackPolicy]):
// the loaders report the failures of the patches they made, and the
// handler counts only what no loader saw ([hotswap.Call.Panic]).
// [Runtime.StatusHandler] serves the slots, the patch stack with each
// probation and the recent events as JSON.
//
// # What it links
//
// This package links every kind: yaegi for scripts, the package plugin and
// cgo for native patches, and go-plugin with gRPC for process patches. An
// application that wants fewer of them (scripts only, or no go-plugin and
// gRPC in its binary) uses the packages directly: [registry], [hotswap]
// (standard library only), one or more of loader/script, loader/native and
// loader/process attached to the manager, and [patchdir] for the directory
// (the watcher and fsnotify); docs/embedding.md shows both ways.
//
// # Platforms
//
// Scripts and process patches work on every platform that Go and yaegi
// support (process patches need a unix-like OS for their sockets). Native
// patches need linux (amd64 or arm64) with cgo; elsewhere each .so is
// refused with a clear error and the other kinds keep working.
package hotpatch
