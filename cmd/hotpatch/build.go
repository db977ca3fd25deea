package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// buildCommand is "hotpatch build".
func buildCommand() *command {
	return &command{
		name:     "build",
		summary:  "build a patchable baseline binary",
		synopsis: "hotpatch build [-o BIN] [-inline module|all|none|PATTERN] [go build flags] [PKG]",
		doc: `
Builds PKG (default ".") into a baseline that can take native patches: cgo
on, every flag recorded in the binary for "hotpatch patch build" to
reproduce, and, by default, the code of PKG's module compiled without
inlining (-gcflags=<module>/...=-l) so that its functions can be redirected;
the standard library and dependencies keep their inlining. -inline all
disables inlining everywhere (slower), -inline none not at all (mark
redirect targets //go:noinline), and a PATTERN disables it for the
packages it matches. Other flags go to "go build" as they are; a -gcflags
of your own replaces the default.

The binary also carries a record of the source of its own packages (those
no module sum pins), appended after its ELF contents: "hotpatch patch
build" and the native loader compare it with the tree a patch is built
from, and refuse a patch that would bring code the binary does not
contain. A binary from a plain "go build" has no such record.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var opts patchbuild.BaselineOptions
			fs.StringVar(&opts.Output, "o", "", "write the baseline to `BIN` (default: go build's choice)")
			fs.StringVar(&opts.Inline, "inline", "", "where inlining is off: `module` (PKG's module, the default), all, none, or the packages a PATTERN matches")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				// parseBuildArgs puts the go build flags after "--".
				sep := slices.Index(args, "--")
				if sep < 0 {
					sep = len(args)
				}
				pkgs, goFlags := args[:sep], args[min(sep+1, len(args)):]
				opts.Flags = goFlags
				if len(pkgs) > 1 {
					return usageError("one package at most, have %q", pkgs)
				}
				if len(pkgs) == 1 {
					opts.Package = pkgs[0]
				}
				return runBuild(ctx, opts, stdout, stderr)
			}
		},
		parse: parseBuildArgs,
	}
}

// runBuild runs "hotpatch build".
func runBuild(ctx context.Context, opts patchbuild.BaselineOptions, stdout, stderr io.Writer) error {
	if opts.Package == "" {
		// Without a package, "." is meant; where there is no Go file,
		// the user needs the usage more than go list's complaint.
		if gofiles, _ := filepath.Glob("*.go"); len(gofiles) == 0 {
			return usageError("no Go files in the current directory: name the main package to build")
		}
	}
	opts.Log = stderr
	res, err := patchbuild.BuildBaseline(ctx, opts)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "hotpatch build: warning:", w)
	}
	fmt.Fprintf(stdout, "%s: baseline %s, source of %d packages recorded\n", res.Output, res.Fingerprint.Hash()[:16], len(res.Sources))
	return nil
}

// parseBuildArgs reads "hotpatch build" arguments: the command's own flags
// (those of fs) anywhere among the go build flags, and the package last.
// It returns the package, if any, then "--" and the go build flags.
func parseBuildArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	takesValue := map[string]bool{
		"p": true, "asmflags": true, "buildmode": true, "compiler": true, "gccgoflags": true,
		"gcflags": true, "installsuffix": true, "ldflags": true, "mod": true, "modfile": true,
		"overlay": true, "pgo": true, "pkgdir": true, "tags": true, "toolexec": true,
		"covermode": true, "coverpkg": true,
	}
	var pkgs, goFlags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if i != len(args)-1 {
				return nil, fmt.Errorf("the package %q must come last", a)
			}
			pkgs = append(pkgs, a)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			return nil, flag.ErrHelp
		}
		if f := fs.Lookup(name); f != nil {
			if !hasValue {
				if i+1 == len(args) {
					return nil, fmt.Errorf("flag needs an argument: %s", a)
				}
				i++
				value = args[i]
			}
			if err := fs.Set(name, value); err != nil {
				return nil, fmt.Errorf("invalid value %q for flag %s: %v", value, a, err)
			}
			continue
		}
		goFlags = append(goFlags, a)
		if !hasValue && takesValue[name] && i+1 < len(args) {
			i++
			goFlags = append(goFlags, args[i])
		}
	}
	return append(append(pkgs, "--"), goFlags...), nil
}
