package patchbuild_test

import (
	"fmt"
	"runtime/debug"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// Reproduce turns the build settings recorded in a baseline into the flags
// and environment of a patch build.
func ExampleReproduce() {
	flags, env, err := patchbuild.Reproduce([]debug.BuildSetting{
		{Key: "-buildmode", Value: "exe"},
		{Key: "-compiler", Value: "gc"},
		{Key: "-gcflags", Value: "example.com/app/...=-l"},
		{Key: "-race", Value: "true"},
		{Key: "-tags", Value: "prod"},
		{Key: "CGO_ENABLED", Value: "1"},
		{Key: "GOARCH", Value: "amd64"},
		{Key: "GOOS", Value: "linux"},
		{Key: "GOAMD64", Value: "v1"},
		{Key: "vcs.revision", Value: "4f2c1e0"},
	})
	fmt.Println(flags, err)
	fmt.Println(env)
	// Output:
	// [-gcflags=example.com/app/...=-l -race -tags=prod] <nil>
	// [CGO_ENABLED=1 GOARCH=amd64 GOOS=linux GOAMD64=v1]
}
