// Package native loads native patches: Go plugins (.so files) built by
// `hotpatch patch build` against the running binary. It implements
// [github.com/hotpatch-go/hotpatch/hotswap.Loader] for the native kind.
//
//	import "github.com/hotpatch-go/hotpatch/loader/native"
//
//	mgr.Attach(native.New(native.Options{})) // mgr.Close closes it
//	w, err := patchdir.Watch(ctx, mgr, "patches", patchdir.Options{})
//
// The loader holds no registry: each Load receives the
// [github.com/hotpatch-go/hotpatch/hotswap.Host] the patch is for, checks
// its slots there, and each implementation reports the panics that escape
// it there once, so that the manager's rollback policy reverts a native
// patch that keeps panicking, as for the other kinds.
//
// It checks patches with package [github.com/hotpatch-go/hotpatch/fingerprint]
// and applies their redirections with package
// [github.com/hotpatch-go/hotpatch/redirect].
//
// # What a native patch is
//
// A patch source (see package [github.com/hotpatch-go/hotpatch/loader]) is
// built into a Go plugin by `hotpatch patch build --baseline BIN FILE.go`,
// inside the host's own module, with BIN's Go version, build flags and
// module versions, and under a plugin path of its own. Besides the code, the
// .so carries:
//
//   - a manifest in the ELF section [Section]: the build's unique ID, the
//     patch source's name and hash, the slots it serves, the host functions
//     it redirects, the fingerprint ([fingerprint.Record]) of the baseline it
//     was built against, and the source record of the packages it links
//     (the manifest format is shared with the build and the process kind,
//     in internal/manifest);
//   - the exported variable HotpatchSlots ([SymbolSlots]), a map[string]any
//     from slot names to implementations;
//   - the exported string HotpatchBaseline ([SymbolBaseline]), the
//     fingerprint again;
//   - optionally HotpatchRedirects ([SymbolRedirects]), declared by the patch
//     source itself, for functions of the host that were never registered.
//
// A patch may import the host's own packages: Go plugins share package
// instances with their host, so the patch reads and writes the host's state.
//
// # Loading
//
// [Loader.Load] reads the file once (opened without blocking, a regular
// file only, its size checked first) and checks it before anything of it is
// mapped: an ELF shared object with a manifest, a baseline fingerprint equal
// to the running binary's ([fingerprint.Fingerprint]; a mismatch is a
// [*BaselineError] that lists what differs, from [fingerprint.Diff], and advises
// the baseline step), the same source for every package the patch shares
// with the running binary (below), slots that exist, and room under the
// memory cap. Only
// then does it open a private copy with plugin.Open, and check the exports
// and each implementation's type against its slot
// ([*hotswap.TypeMismatchError]). The Go runtime's own refusal of a plugin
// that was compiled from other source of a shared package ("plugin was
// built with a different version of package …") comes back as a
// [*BaselineError] naming the package.
//
// # Source the baseline does not contain
//
// The fingerprint covers module versions and build settings, and Go's own
// check at plugin.Open covers a shared package's export data; neither
// sees a function body edited in the host's own module after the baseline
// was built (in a module without VCS stamping, not even the revision
// changes). `hotpatch build` therefore appends a source record to the
// binary ([fingerprint.Sources]: a content hash of each package no module sum
// pins), `hotpatch patch build` records the same hashes, as the tree holds
// them, of the packages the patch links, and refuses a tree that differs
// from the baseline's; the loader compares the patch's record with the
// running binary's again and refuses a difference with a [*BaselineError]
// naming the packages. A binary built with a plain `go build` has no
// record: its patches load as before, unchecked for this, and the loader
// logs that once (Options.Logger); its refusals ask whether the server was
// built with `hotpatch build`. A record that is there but malformed (the
// binary was cut or changed after the build) refuses every native patch,
// with an error wrapping [ErrBaselineMismatch] that says so.
//
// The private copy exists because plugin.Open caches plugins by path (a new
// version written over the same name would open as the old one) and because
// a mapped file modified in place crashes the process. It is written from
// the checked bytes, opened, and removed at once. The same build loaded
// again (a re-applied file) opens nothing new; the same build under a
// second file name is loaded too, as a directory of both files means, and
// the loader logs a warning naming both.
//
// # Plugins are never unloaded
//
// Go cannot unload a plugin: its code and data stay mapped for the life of
// the process, and so does a plugin that the Go runtime refused after the
// dynamic loader had mapped it. Reverting a native patch is still instant
// (the slot pointer moves back) and the patch can be applied again without
// opening anything; the Retire hook does nothing for the code (it only
// restores redirections). The loader counts the mapped size of every .so it
// opened and refuses new ones past Options.MaxMemory ([ErrMemoryCap],
// default [DefaultMaxMemory]); the baseline step, a rebuild and restart,
// starts from zero again. A -race plugin maps about 19 MiB (most of it the
// race runtime's untouched BSS), a plain one about 3 MiB.
//
// # Redirections
//
// A patch source may declare
//
//	var HotpatchRedirects = map[string][2]any{
//		"example.com/app/billing.Round": {billing.Round, Round},
//	}
//
// to replace functions of the host that were never registered as slots.
// The patch's Validate hook redirects each target to its replacement with
// [redirect.Redirect]; its Retire hook restores them, so reverting the patch
// undoes both its slots and its redirections. The loader resolves each
// target by name to the running binary's own function (a func value taken
// in the plugin may point at the plugin's copy of the code), and stacks the
// redirections of its patches per target: a new version of a patch takes
// over from the old one, and reverting the top one brings back the one
// below. See docs/redirection.md for how a running function is rewritten
// safely, and what cannot be redirected (inlined call sites, package main,
// which a plugin cannot import).
//
// # Platforms
//
// Linux with cgo, amd64 and arm64 (redirection needs one of those two).
// Elsewhere, and in a binary built without cgo, Load returns
// [ErrNotSupported]; the package compiles everywhere.
package native
