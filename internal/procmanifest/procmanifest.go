// Package procmanifest forwards to internal/manifest, which replaced it:
// one manifest format for every kind of artefact. It remains only until
// loader/process imports internal/manifest; then delete it.
package procmanifest

import "github.com/hotpatch-go/hotpatch/internal/manifest"

// Decode parses a process patch's encoded manifest; see [manifest.Decode].
func Decode(s string) (manifest.Manifest, error) { return manifest.Decode(s) }
