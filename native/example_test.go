package native_test

import (
	"fmt"
	"runtime/debug"

	"github.com/hotpatch-go/hotpatch/native"
)

// A loader compares the fingerprint a patch was built against with the
// running binary's and refuses it, saying what differs.
func ExampleDiff() {
	build := func(textVersion, race string) native.Record {
		rec, _ := native.FingerprintOf(&debug.BuildInfo{
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
		for _, d := range native.Diff(patch, running) {
			fmt.Println(d.Describe("patch", "running"))
		}
	}
	// Output:
	// dependency golang.org/x/text: v0.41.0 (patch) vs v0.42.0 (running)
	// build setting -race: true (patch) vs false (running)
}

// The text form travels inside patches and bundle manifests and parses back
// to the same fingerprint.
func ExampleRecord_MarshalText() {
	rec, _ := native.FingerprintOf(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "example.com/server/cmd/server",
		Main:      debug.Module{Path: "example.com/server", Version: "(devel)"},
		Settings:  []debug.BuildSetting{{Key: "-ldflags", Value: "-X main.version=1.0"}, {Key: "GOOS", Value: "linux"}},
	})
	text, _ := rec.MarshalText()
	fmt.Print(string(text))

	var back native.Record
	if err := back.UnmarshalText(text); err != nil {
		panic(err)
	}
	fmt.Println(back.Hash() == rec.Hash())
	// Output:
	// hotpatch-fingerprint v1
	// go	go1.26.8
	// path	example.com/server/cmd/server
	// mod	example.com/server	(devel)	""
	// build	GOOS	linux
	// info	-ldflags	-X main.version=1.0
	// true
}

// The running binary's own fingerprint.
func ExampleFingerprint() {
	rec, err := native.Fingerprint()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.GoVersion, rec.Hash()[:12])
}

//go:noinline
func greet(name string) string { return "hello, " + name }

// Redirect a function that was never registered as a slot, then put it
// back. (Not run as a test: it rewrites the test binary's code, and
// returns ErrNotSupported off linux/amd64 and linux/arm64.)
func ExampleRedirect() {
	r, err := native.Redirect(greet, func(name string) string { return "hello again, " + name })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(greet("gopher"))
	if err := r.Restore(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(greet("gopher"))
}
