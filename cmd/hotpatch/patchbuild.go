package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// `hotpatch patch build` turns a patch source (a Go file whose funcs carry
// //hotpatch:slot directives) into a deliverable patch of one kind.

// DefaultPatchKind is the kind `patch build` makes without --kind.
const DefaultPatchKind = "native"

// buildRequest is what a kind's builder gets.
type buildRequest struct {
	File       string // the patch source
	Out        string // the file to write
	ModuleRoot string // the hotpatch module's directory, or "" to find it
	Stdout     io.Writer
	Stderr     io.Writer
}

// patchBuilder builds one kind of patch.
type patchBuilder func(ctx context.Context, req buildRequest) error

// patchBuilders returns the builders of `patch build`, by kind. Each kind's
// builder lives in its own file (patchbuild_process.go, ...): add a kind by
// adding its entry here.
func patchBuilders() map[string]patchBuilder {
	return map[string]patchBuilder{
		"process": buildProcessPatch,
	}
}

func runPatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprintln(stderr, "usage: hotpatch patch build [--kind K] -o OUT FILE.go")
		return 2
	}
	if patchKind(args[1:]) == "native" {
		return exitCode(stderr, cmdPatchBuildNative(ctx, args[1:], stdout, stderr))
	}
	return runPatchBuild(ctx, args[1:], stdout, stderr)
}

// patchKind returns the --kind given in args, or DefaultPatchKind. The
// native kind has flags of its own (--baseline), so the kind is read before
// the flags are parsed.
func patchKind(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "kind" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return DefaultPatchKind
}

func runPatchBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	builders := patchBuilders()
	kinds := strings.Join(slices.Sorted(maps.Keys(builders)), ", ") + ", native"
	fs := flag.NewFlagSet("hotpatch patch build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", DefaultPatchKind, "the kind of patch to build: "+kinds)
	out := fs.String("o", "", "the file to write (default: FILE's name with the kind's extension)")
	root := fs.String("module-root", "", "the directory of the hotpatch module (default: the module around FILE, else the current directory's if it is hotpatch)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hotpatch patch build [--kind K] [-o OUT] [--module-root DIR] FILE.go\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	build, ok := builders[*kind]
	if !ok {
		fmt.Fprintf(stderr, "hotpatch patch build: unknown kind %q (available: %s)\n", *kind, kinds)
		return 2
	}
	req := buildRequest{File: fs.Arg(0), Out: *out, ModuleRoot: *root, Stdout: stdout, Stderr: stderr}
	if req.Out == "" {
		req.Out = strings.TrimSuffix(filepath.Base(req.File), ".go") + "." + *kind
		if *kind == "process" {
			req.Out = strings.TrimSuffix(filepath.Base(req.File), ".go") + ".proc"
		}
	}
	if err := build(ctx, req); err != nil {
		fmt.Fprintf(stderr, "hotpatch patch build: %v\n", err)
		return 1
	}
	return 0
}

// absPath makes p absolute.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
