package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// errBadArgs marks an error in a command line: a dispatcher prints it and
// exits with status 2.
var errBadArgs = errors.New("usage")

const buildUsage = `usage: hotpatch build [-o BIN] [-inline module|all|none|PATTERN] [go build flags] [PKG]

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
contain. A binary from a plain "go build" has no such record.`

// cmdBuild is "hotpatch build".
func cmdBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseBuildArgs(args)
	if err != nil {
		return err
	}
	if opts.Package == "-h" {
		fmt.Fprintln(stdout, buildUsage)
		return nil
	}
	if opts.Package == "" {
		// Without a package, "." is meant; where there is no Go file,
		// the user needs the usage more than go list's complaint.
		if gofiles, _ := filepath.Glob("*.go"); len(gofiles) == 0 {
			return fmt.Errorf("%w: no Go files in the current directory: name the main package to build\n%s", errBadArgs, buildUsage)
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

// parseBuildArgs reads "hotpatch build" arguments: its own flags (-o,
// -inline) anywhere among the go build flags, and the package last.
func parseBuildArgs(args []string) (patchbuild.BaselineOptions, error) {
	var opts patchbuild.BaselineOptions
	takesValue := map[string]bool{
		"p": true, "asmflags": true, "buildmode": true, "compiler": true, "gccgoflags": true,
		"gcflags": true, "installsuffix": true, "ldflags": true, "mod": true, "modfile": true,
		"overlay": true, "pgo": true, "pkgdir": true, "tags": true, "toolexec": true,
		"covermode": true, "coverpkg": true,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if i != len(args)-1 {
				return opts, fmt.Errorf("%w: the package %q must come last\n%s", errBadArgs, a, buildUsage)
			}
			opts.Package = a
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "h", "help":
			opts.Package = "-h"
			return opts, nil
		case "o", "inline":
			if !hasValue {
				if i+1 == len(args) {
					return opts, fmt.Errorf("%w: %s needs a value\n%s", errBadArgs, a, buildUsage)
				}
				i++
				value = args[i]
			}
			if name == "o" {
				opts.Output = value
			} else {
				opts.Inline = value
			}
			continue
		}
		opts.Flags = append(opts.Flags, a)
		if !hasValue && takesValue[name] && i+1 < len(args) {
			i++
			opts.Flags = append(opts.Flags, args[i])
		}
	}
	return opts, nil
}
