package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// `hotpatch patch build` turns a patch source (a Go file whose funcs carry
// //hotpatch:slot directives) into a deliverable patch of one kind.

// DefaultPatchKind is the kind `patch build` makes without --kind.
const DefaultPatchKind = "native"

// buildRequest is what a kind's builder gets.
type buildRequest struct {
	File       string // the patch source
	Out        string // the file to write
	ModuleRoot string // process: the hotpatch module's directory, or "" to find it
	Baseline   string // native: the baseline binary
	Module     string // native: the directory of the source tree the baseline was built from
	Verbose    bool   // native: print the go commands run
	Stdout     io.Writer
	Stderr     io.Writer
}

// patchBuilder builds one kind of patch.
type patchBuilder struct {
	build func(ctx context.Context, req buildRequest) error
	flags []string // the flags only this kind takes
}

// patchBuilders returns the builders of `patch build`, by kind. Each kind's
// builder lives in its own file (patchbuild_native.go, ...): add a kind by
// adding its entry here.
func patchBuilders() map[string]patchBuilder {
	return map[string]patchBuilder{
		"native":  {buildNativePatch, []string{"baseline", "module", "v"}},
		"process": {buildProcessPatch, []string{"module-root"}},
	}
}

// patchBuildCommand is "hotpatch patch build".
func patchBuildCommand() *command {
	return &command{
		name:    "patch build",
		summary: "build a patch source into a native or process patch",
		synopsis: `hotpatch patch build [--kind native] --baseline BIN [-o OUT.so] [--module DIR] [-v] FILE.go
hotpatch patch build --kind process [-o OUT.proc] [--module-root DIR] FILE.go`,
		doc: `
Builds the patch source FILE.go, whose funcs carry //hotpatch:slot
directives, into a patch of one kind.

--kind native (the default) builds a Go plugin for the baseline BIN: with
BIN's Go version (the local toolchain must be it), BIN's build flags, and
the module versions of the source tree it was built from (DIR, default the
current directory, must be in BIN's main module). The .so carries BIN's
fingerprint and exports the slot implementations as HotpatchSlots; see
docs/native.md. A package the patch links whose source differs from what
BIN was built from is refused (BIN's source record, which "hotpatch build"
writes; a BIN from a plain "go build" has none, and is built for with a
warning).

--kind process builds an executable that serves the slots as a process
patch; see docs/process.md.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var req buildRequest
			kind := fs.String("kind", DefaultPatchKind, "the `kind` of patch to build: "+strings.Join(slices.Sorted(maps.Keys(patchBuilders())), ", "))
			fs.StringVar(&req.Out, "o", "", "the `file` to write (default: FILE's name with the kind's extension)")
			fs.StringVar(&req.Baseline, "baseline", "", "native: the baseline `binary` the patch is for (required)")
			fs.StringVar(&req.Module, "module", "", "native: the `directory` of the source tree BIN was built from (default: the current directory)")
			fs.BoolVar(&req.Verbose, "v", false, "native: print the go commands run")
			fs.StringVar(&req.ModuleRoot, "module-root", "", "process: the `directory` of the hotpatch module (default: the module around FILE, else the current directory's if it is hotpatch)")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				req.Stdout, req.Stderr = stdout, stderr
				return runPatchBuild(ctx, fs, *kind, req, args)
			}
		},
	}
}

// runPatchBuild checks the command line of "patch build" for kind and runs
// its builder.
func runPatchBuild(ctx context.Context, fs *flag.FlagSet, kind string, req buildRequest, args []string) error {
	builders := patchBuilders()
	b, ok := builders[kind]
	if !ok {
		return usageError("unknown kind %q (available: %s)", kind, strings.Join(slices.Sorted(maps.Keys(builders)), ", "))
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		for k, other := range builders {
			if k != kind && slices.Contains(other.flags, f.Name) && !slices.Contains(b.flags, f.Name) {
				misplaced = append(misplaced, fmt.Sprintf("--%s is for --kind %s", f.Name, k))
			}
		}
	})
	if len(misplaced) > 0 {
		return usageError("%s, not %s", strings.Join(misplaced, "; "), kind)
	}
	if len(args) != 1 {
		return usageError("want one FILE.go, have %d arguments", len(args))
	}
	if kind == "native" && req.Baseline == "" {
		return usageError("--kind native needs --baseline BIN, the binary the patch is for")
	}
	req.File = args[0]
	if req.Out == "" {
		ext := map[string]string{"native": manifest.NativeExt, "process": manifest.ProcessExt}[kind]
		req.Out = strings.TrimSuffix(filepath.Base(req.File), ".go") + ext
	}
	return b.build(ctx, req)
}

// absPath makes p absolute.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
