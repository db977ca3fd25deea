// Package procmanifest is the manifest that `hotpatch patch build --kind
// process` embeds in a process patch: the slots it serves and the func type
// of each as written in the patch source. The build sets it with
// -ldflags=-X (so `go version -m greet.proc` shows it too), and the plugin
// reports it to the host at handshake.
package procmanifest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Var is the variable the build sets: loader/process's buildManifest.
const Var = "github.com/hotpatch-go/hotpatch/loader/process.buildManifest"

// Manifest describes a built process patch.
type Manifest struct {
	Source  string `json:"source"`  // the patch file's base name
	Package string `json:"package"` // its package name
	Slots   []Slot `json:"slots"`
}

// Slot is one slot the patch serves.
type Slot struct {
	Name string `json:"name"` // the slot, from //hotpatch:slot
	Func string `json:"func"` // the Go func that serves it
	Type string `json:"type"` // its type as written in the source
}

// Encode returns m as a string that needs no quoting in -ldflags.
func (m Manifest) Encode() string {
	data, err := json.Marshal(m)
	if err != nil {
		panic(err) // unreachable: plain strings only
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// Decode parses what Encode returned.
func Decode(s string) (Manifest, error) {
	var m Manifest
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return m, fmt.Errorf("procmanifest: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("procmanifest: %w", err)
	}
	return m, nil
}
