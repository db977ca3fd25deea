package fingerprint_test

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// DiffSources compares the source record of the tree a patch was built
// from with the running binary's: a package both link, edited in between,
// is a difference; packages only one side has are not.
func ExampleDiffSources() {
	patch := fingerprint.Sources{
		"example.com/app/greet": "sha256:997f6076668f0a1b2c3d",
		"example.com/app/stats": "sha256:55aa55aa55aa55aa55aa",
		"example.com/app/new":   "sha256:0123456789abcdef0123",
	}
	running := fingerprint.Sources{
		"example.com/app/greet": "sha256:32805ec4a9af0a1b2c3d",
		"example.com/app/stats": "sha256:55aa55aa55aa55aa55aa",
		"example.com/app":       "sha256:fedcba9876543210fedc",
	}
	for _, d := range fingerprint.DiffSources(patch, running) {
		fmt.Println(d.Describe("patch", "running"))
	}
	// Output:
	// source of package example.com/app/greet: sha256:997f6076668f (patch) vs sha256:32805ec4a9af (running)
}
