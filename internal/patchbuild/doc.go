// Package patchbuild builds what native patches need: baselines that can
// load them ([BuildBaseline], behind `hotpatch build`) and the patches
// themselves ([Build], behind `hotpatch patch build`). The CLI and the
// tests of package loader/native share it.
//
// # Baselines
//
// A baseline is a Go executable built with cgo (Go plugins need it), with
// every build flag recorded in its build information (the go command does
// that, for flags given once), and with the main module's packages compiled
// without inlining by default, so that their functions stay out of line and
// can be redirected. See docs/native.md for what that costs.
//
// # Patches
//
// A patch build reads the baseline's build information
// (debug/buildinfo.ReadFile), reproduces its settings ([Reproduce]),
// refuses a local Go toolchain other than the baseline's, and builds the
// patch source as a plugin inside the baseline's main module, in a fresh
// directory <module root>/.hotpatch/build/<id>: the patch resolves the same
// go.mod and go.sum as the baseline, may import the host's own packages,
// and gets a unique import path and so a unique plugin path (Go refuses to
// load a second plugin with the plugin path of one already loaded). Next to
// the patch, a generated file carries the manifest as an ELF section and
// exports the slot table and the baseline fingerprint (see package
// loader/native). Appended to the patch's own file, HotpatchWrap hands out
// each slot func and redirect replacement in a wrapper of its exact type,
// written from its declaration, that reports a panic through a func the
// loader gives and panics again with the same value: a deferred call, where
// a reflect-based wrapper would cost hundreds of nanoseconds per call.
// A patch whose build constraint leaves it out of a build with the
// baseline's settings is refused before the build. After the build, the
// plugin's own build information is
// compared with the baseline's: a module version or a setting that differs
// fails the build, rather than a load later.
//
// The source tree must be the one the baseline was built from, at the same
// path (file paths are part of compiled packages unless -trimpath).
// [BuildBaseline] appends a source record to the baseline (see
// [github.com/hotpatch-go/hotpatch/fingerprint.Sources]): a content hash of
// each package no module sum pins. [Prepare] hashes the packages the patch
// links as the tree holds them and refuses any that differ from the
// baseline's record ([*DriftError]); the manifest carries the hashes, and
// the loader compares them again with the running binary's record. A
// baseline without a record (a plain go build) is built for with a
// warning: nothing then checks that its packages' source is unchanged but
// Go's own check at load time, which compares export data only. A
// baseline whose record is malformed is refused ([ErrBaseline]), and one
// built again into the same file keeps or replaces its record.
//
// # Overlays
//
// [BaselineOptions.Overlay] and [Options.Overlay] name a `go build
// -overlay` file given to every go command that must see the same
// packages: the build, and the listings of the source record, whose
// hashes read a replaced file's replacement. The go command does not
// record an overlay in the binary, so a caller that builds a baseline
// with one gives the same one to each patch build for it (`hotpatch dev`
// adds its export shims this way, and keeps a patch build on the source
// the running baseline was built from). -overlay among the flags stays
// refused.
package patchbuild
