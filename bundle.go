package hotpatch

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// withBundles returns the loaders the manager owns: the three kinds, and,
// with Options.Bundles, the loader of signed bundles that delegates to
// them. When the policy requires signatures, the bundle loader is the only
// one attached: a bare script, plugin or executable dropped into the patch
// directory is then ignored, and every patch comes through the bundle
// checks, whichever way it arrives.
func withBundles(opts Options, log *slog.Logger, kinds ...hotswap.Loader) []hotswap.Loader {
	if opts.Bundles == nil {
		return kinds
	}
	bo := opts.BundleLoader
	if bo.Logger == nil {
		bo.Logger = log
	}
	bl := bundleloader.New(*opts.Bundles, bo, kinds...)
	if opts.Bundles.RequireSigned {
		return []hotswap.Loader{bl}
	}
	return append(kinds, bl)
}

// checkBundlePolicy refuses a policy that could accept no bundle for a
// reason of its own: every refusal would then blame the bundle.
func checkBundlePolicy(pol *bundle.Policy) error {
	if pol == nil {
		return nil
	}
	for i, k := range pol.Trusted {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("hotpatch: Options.Bundles.Trusted[%d] is %d bytes, an ed25519 public key is %d: %w (read trust files with bundle.ReadTrusted)",
				i, len(k), ed25519.PublicKeySize, bundle.ErrBadKey)
		}
	}
	if pol.RequireSigned && len(pol.Trusted) == 0 {
		return fmt.Errorf("hotpatch: Options.Bundles requires signatures and Trusted holds no key, so every bundle would be refused: %w (read trust files with bundle.ReadTrusted)",
			bundle.ErrBadKey)
	}
	return nil
}

// checkPatchDir refuses a patch directory that others than its owner
// may write (or that another user owns): who can write it can replace
// what the host loads (sshd's StrictModes rule). Signed bundles do not
// make that safe either: a writer could remove or hold back a fix.
func (rt *Runtime) checkPatchDir() error {
	if rt.opts.Dir == "" {
		return nil
	}
	if err := bundle.CheckMode(rt.opts.Dir, 0o022); err != nil {
		return fmt.Errorf("hotpatch: patch directory: %w", err)
	}
	return nil
}

// checkPatchFile returns the watch's check before each load of a file:
// the patch directory is judged again, as at Start, since its mode, its
// owner or the directory a symlink names may have changed since; then
// the file itself (group- or world-writable, or another user's, unless
// on a read-only mount); then the application's own check, if any. The directory is the file's, as
// the watch names it (absolute, through a symlink that names it).
func (rt *Runtime) checkPatchFile(also func(path string) error) func(path string) error {
	return func(path string) error {
		if err := bundle.CheckMode(filepath.Dir(path), 0o022); err != nil {
			return fmt.Errorf("hotpatch: %s: patch directory: %w; the watch checks it again every second and loads it once fixed", path, err)
		}
		// The file too: who may write it may change what is loaded,
		// though the directory is the owner's alone.
		if err := bundle.CheckMode(path, 0o022); err != nil {
			return fmt.Errorf("hotpatch: %s: patch file: %w; the watch checks it again every second and loads it once fixed", path, err)
		}
		if also != nil {
			return also(path)
		}
		return nil
	}
}

// Bundles returns the loader of signed bundles, or nil without
// Options.Bundles. Whatever brings a bundle in (the patch directory, an
// admin API) loads it with it through [hotswap.Manager.Load], so every
// bundle passes the same checks.
func (rt *Runtime) Bundles() *bundleloader.Loader {
	for _, l := range rt.mgr.Loaders() {
		if bl, ok := l.(*bundleloader.Loader); ok {
			return bl
		}
	}
	return nil
}
