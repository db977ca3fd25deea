package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
)

// Sources is the source record of a build: for each package whose code is
// not pinned by a module sum (the packages of the main module, of modules
// replaced by a directory, and vendored ones), a hash of the content of its
// source files, by import path.
//
// A [Record] says which module versions and build settings a binary was
// built with, but not what the files of its own module held: in a module
// without VCS stamping, a function body edited after the build changes no
// fact of the Record, and the Go runtime's check at plugin.Open compares
// only a package's export data, which a body does not change. The source
// record is what catches that edit. `hotpatch build` computes it (with
// `go list`) and appends it to the binary; `hotpatch patch build` and the
// native loader compare it, package by package, with the tree a patch was
// built from ([DiffSources]). This package holds and compares records;
// the manifests of hotpatch's artefacts carry them.
//
// The hash of a package is "sha256:" and the hex SHA-256 of the Go version
// its module's go.mod states and of its file names and contents (Go, cgo,
// C, assembly, syso and embedded files), in name order; a tool computes
// it, this package only stores and compares it.
type Sources map[string]string

// Hash returns the hex SHA-256 of s as "path<TAB>hash" lines sorted by
// path: equal exactly when two records hold the same packages with the
// same hashes (paths and hashes hold no tab or newline: import paths
// cannot, and the manifest that carries a record refuses them). A
// baseline's identity for restarts may combine it with [Record.Hash], so
// that a rebuild from edited source counts as a new baseline.
func (s Sources) Hash() string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(s)) {
		h.Write([]byte(p + "\t" + s[p] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DiffSources lists the packages that both a and b record with different
// hashes, sorted by path, as differences "source of package P". A package
// only one side records is no difference: a patch links a part of its
// baseline's packages, and may bring packages of its own.
func DiffSources(a, b Sources) []Difference {
	var out []Difference
	for _, p := range slices.Sorted(maps.Keys(a)) {
		if y, ok := b[p]; ok && y != a[p] {
			out = append(out, Difference{What: "source of package " + p, A: shortHash(a[p]), B: shortHash(y)})
		}
	}
	return out
}

// shortHash shortens "sha256:<hex>" for people; two hashes that differ
// differ in their first bytes but for a chance of 2^-48.
func shortHash(h string) string {
	if alg, hex, ok := strings.Cut(h, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return h
}
