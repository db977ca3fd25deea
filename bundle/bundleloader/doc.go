// Package bundleloader loads signed bundles (*.hpatch, package
// [github.com/hotpatch-go/hotpatch/bundle]) as patches: a
// [github.com/hotpatch-go/hotpatch/hotswap.Loader] that verifies each
// bundle with a [bundle.Policy] and hands its payload to the loader of
// the payload's kind.
//
//	bl := bundleloader.New(bundle.Policy{Trusted: keys, RequireSigned: true},
//		bundleloader.Options{}, script.New(so), native.New(no), process.New(po))
//	mgr.Attach(bl)
//
// # Same checks for every way in
//
// A bundle dropped into a watched directory (package patchdir) and one
// pushed by any other caller go through [Loader.Load], so through the same
// checks, in the order Load documents. Nothing of the payload is opened
// by a loader before the manifest's signature, expiry, kind, baseline,
// replay rule and the payload's hash were checked. To make the bundle the
// only way in, attach only this loader to the manager: the delegates are
// then reachable through bundles alone (the root package does so when the
// policy requires signatures).
//
// # Patch IDs and replay marks
//
// A bundle's patch has the ID "ID@VERSION" ([bundle.Manifest.PatchID]),
// so successive versions of one fix are distinct patches; a caller that
// wants a new version to replace an older one in one swap sets
// [hotswap.Patch.Replaces] ([bundle.SplitPatchID] reads the ID back). The
// delegate's own ID for the patch is translated to it in what the
// delegate asks of the host later (a rollback, an event).
//
// The replay rule is applied when the bundle loads and again in the
// patch's Validate hook, under the manager's change lock; the hook raises
// the high-water mark (Policy.Marks, or memory) before the delegate's own
// Validate runs, so a version vetoed by that hook still counts as applied.
// Only a bundle signed by a trusted key raises the mark: an unsigned one
// (without RequireSigned) could claim any version.
//
// # Private files
//
// Each payload is written to a fresh directory (mode 0700) under
// Options.Dir, as a file of mode 0600 (0700 for a process payload) named
// after the manifest's payload name, which the schema restricts to a base
// name. The delegates keep their own copy (a script in memory, a plugin or
// an executable in their private directory), and the file is removed as
// soon as the delegate returns.
package bundleloader
