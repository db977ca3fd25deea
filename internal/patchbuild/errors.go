package patchbuild

import "errors"

// Errors of this package, wrapped with the details.
var (
	// ErrBaseline: the baseline binary cannot be read, cannot host plugins,
	// or records a setting that cannot be reproduced.
	ErrBaseline = errors.New("patchbuild: unusable baseline")
	// ErrToolchain: the local Go toolchain is not the baseline's.
	ErrToolchain = errors.New("patchbuild: Go toolchain differs from the baseline's")
	// ErrModule: the source tree is not the baseline's main module.
	ErrModule = errors.New("patchbuild: not in the baseline's main module")
	// ErrSource: the patch source is not usable as a native patch.
	ErrSource = errors.New("patchbuild: bad patch source")
	// ErrGoBuild: the go command failed; its output follows.
	ErrGoBuild = errors.New("patchbuild: go build failed")
	// ErrMismatch: the built plugin links other module versions or
	// settings than the baseline, so it would be refused at load.
	ErrMismatch = errors.New("patchbuild: the patch does not match its baseline")
	// ErrDrift: packages of the source tree differ from those the baseline
	// was built from (matched by a [*DriftError]).
	ErrDrift = errors.New("patchbuild: the source tree differs from the baseline's")
	// ErrPackage: what BuildBaseline was given to build is not one main
	// package the go command can load.
	ErrPackage = errors.New("patchbuild: no main package to build")
	// ErrFlags: flags given to BuildBaseline that the build info could not
	// record faithfully.
	ErrFlags = errors.New("patchbuild: unusable build flags")
)
