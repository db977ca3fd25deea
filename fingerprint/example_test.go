package fingerprint_test

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// A loader compares the fingerprint a patch was built against with the
// running binary's and refuses it, saying what differs.
func ExampleDiff() {
	build := func(textVersion, race string) fingerprint.Record {
		rec, _ := fingerprint.FingerprintOf(&debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "example.com/server", Version: "(devel)"},
			Deps:      []*debug.Module{{Path: "golang.org/x/text", Version: textVersion, Sum: "h1:..."}},
			Settings: []debug.BuildSetting{
				{Key: "-buildmode", Value: "exe"},
				{Key: "-race", Value: race},
				{Key: "GOARCH", Value: "amd64"},
				{Key: "GOOS", Value: "linux"},
			},
		})
		return rec
	}
	patch, running := build("v0.41.0", "true"), build("v0.42.0", "false")
	if patch.Hash() != running.Hash() {
		for _, d := range fingerprint.Diff(patch, running) {
			fmt.Println(d.Describe("patch", "running"))
		}
	}
	// Output:
	// dependency golang.org/x/text: v0.41.0 (patch) vs v0.42.0 (running)
	// build setting -race: true (patch) vs false (running)
}

// The text form is the one `go version -m` prints, after a header; it
// travels inside patch manifests and parses back to the same fingerprint.
func ExampleRecord_MarshalText() {
	rec, _ := fingerprint.FingerprintOf(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "example.com/server/cmd/server",
		Main:      debug.Module{Path: "example.com/server", Version: "(devel)"},
		Settings:  []debug.BuildSetting{{Key: "-ldflags", Value: "-X main.version=1.0"}, {Key: "GOOS", Value: "linux"}},
	})
	text, _ := rec.MarshalText()
	for line := range strings.Lines(string(text)) {
		fmt.Printf("%q\n", line) // quoted: the main module's empty sum ends its line with a tab
	}

	var back fingerprint.Record
	if err := back.UnmarshalText(text); err != nil {
		panic(err)
	}
	fmt.Println(back.Hash() == rec.Hash())
	// Output:
	// "hotpatch-fingerprint v2\n"
	// "go\tgo1.26.8\n"
	// "path\texample.com/server/cmd/server\n"
	// "mod\texample.com/server\t(devel)\t\n"
	// "build\t-ldflags=\"-X main.version=1.0\"\n"
	// "build\tGOOS=linux\n"
	// true
}

// The running binary's own fingerprint.
func ExampleFingerprint() {
	rec, err := fingerprint.Fingerprint()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.GoVersion, rec.Hash()[:12])
}
