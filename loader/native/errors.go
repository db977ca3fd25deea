package native

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// Errors of the loader. Load wraps them with the file name and what was
// found; match them with [errors.Is].
var (
	// ErrNotSupported is returned on platforms without Go plugins (anything
	// but linux with cgo today).
	ErrNotSupported = errors.New("native: native patches are not supported on this platform or without cgo")

	// ErrClosed is returned by Load after Close.
	ErrClosed = fmt.Errorf("native: loader closed: %w", hotswap.ErrClosed)

	// ErrNotPatch is returned for a file that is not a native patch: not an
	// ELF shared object, truncated, or a Go plugin without the hotpatch
	// manifest section.
	ErrNotPatch = manifest.ErrNotNative

	// ErrBadManifest is returned when the manifest section cannot be parsed.
	ErrBadManifest = manifest.ErrBadNative

	// ErrBaselineMismatch is matched by a [*BaselineError]: the patch was
	// built against another baseline than the running binary.
	ErrBaselineMismatch = errors.New("native: patch was built against another baseline")

	// ErrMemoryCap is returned when opening the patch would take the memory
	// of loaded patches past Options.MaxMemory. Plugins are never unloaded;
	// the baseline step (rebuild and restart) starts from zero again.
	ErrMemoryCap = errors.New("native: memory cap of native patches reached; take the baseline step")

	// ErrOpen is returned when the dynamic loader or the Go runtime refuses
	// the file for a reason other than the baseline.
	ErrOpen = errors.New("native: plugin open failed")

	// ErrNoExport is returned for a patch that does not export
	// HotpatchSlots (or HotpatchBaseline).
	ErrNoExport = errors.New("native: patch does not export its slots")

	// ErrBadExport is returned when an exported variable has the wrong
	// type or disagrees with the manifest.
	ErrBadExport = errors.New("native: patch export is malformed")

	// ErrRedirect is returned by a patch's Validate hook when one of its
	// redirections cannot be made; see the wrapped native error.
	ErrRedirect = errors.New("native: redirection failed")
)

// BaselineError reports a patch built against another baseline than the
// running binary, or from other source. It matches [ErrBaselineMismatch]
// and [hotswap.ErrBaselineChanged] with errors.Is.
//
// It comes from one of three checks. Before opening, the fingerprint
// embedded in the patch is compared with the running binary's, then the
// source record of the packages the patch links with the running binary's
// own (see [fingerprint.Sources]); Differences lists what differs. After both
// match, the Go runtime may still find that a package both contain was
// compiled from other source; Package names it and Differences is empty.
//
// Its Error is one line, fit for a log; the differences are separated by
// "; ". A command line tool that wants one difference per line prints
// Differences itself.
type BaselineError struct {
	File        string                   // the patch file
	Differences []fingerprint.Difference // patch is the first side, running binary the second
	Package     string                   // package whose build differs, from the Go runtime

	// Unrecorded is set when the running binary carries no source record:
	// it was not built with `hotpatch build`, which is the likely reason
	// for the differences.
	Unrecorded bool
}

func (e *BaselineError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: patch does not match the running binary; "+
		"take the baseline step (rebuild and restart with the change), or rebuild the patch with "+
		"`hotpatch patch build --baseline` on the running binary, from the source it was built from", e.File)
	if e.Unrecorded {
		b.WriteString("; was the server built with `hotpatch build`? it carries no record of it (a plain `go build` " +
			"lacks the flags native patches are built with): build it with `hotpatch build` and build patches against that binary")
	}
	if e.Package != "" {
		fmt.Fprintf(&b, ": package %s was compiled from different source in the patch and in the running binary "+
			"(the fingerprints match: its files changed since the baseline build, or the patch was built in "+
			"another directory without -trimpath)", e.Package)
	}
	for i, d := range e.Differences {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(d.Describe("patch", "running"))
	}
	return b.String()
}

// Unwrap makes errors.Is match [ErrBaselineMismatch] and
// [hotswap.ErrBaselineChanged].
func (e *BaselineError) Unwrap() []error {
	return []error{ErrBaselineMismatch, hotswap.ErrBaselineChanged}
}

// joinErrors is [errors.Join] with a one-line message: the errors are
// separated by "; ", so that a log line holds the whole refusal. It
// returns nil if every error is nil.
func joinErrors(errs ...error) error {
	var out joinedError
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

type joinedError []error

func (e joinedError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e joinedError) Unwrap() []error { return e }
