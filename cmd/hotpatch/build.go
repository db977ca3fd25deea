package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// buildCommand is "hotpatch build".
func buildCommand() *command {
	return &command{
		name:     "build",
		summary:  "build a patchable baseline binary",
		synopsis: "hotpatch build [-o BIN] [-versioned] [-inline module|all|none|PATTERN] [go build flags] [PKG]",
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
contain. A binary from a plain "go build" has no such record.

With -versioned, -o DIR/NAME writes DIR/NAME-<id>, named after the first
12 hex digits of the baseline's ID (its fingerprint and its source
record, so that a rebuild from edited source is a new name), then points
the symbolic link DIR/NAME at it atomically (a new link renamed over the
old one). A running binary is never overwritten in place, the previous
baseline stays on disk for a rollback (point the link back), and a server
started as DIR/NAME restarts into the new baseline on its next baseline
step. A DIR/NAME that exists and is not a symbolic link is refused.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var opts patchbuild.BaselineOptions
			fs.StringVar(&opts.Output, "o", "", "write the baseline to `BIN` (default: go build's choice)")
			fs.StringVar(&opts.Inline, "inline", "", "where inlining is off: `module` (PKG's module, the default), all, none, or the packages a PATTERN matches")
			versioned := fs.Bool("versioned", false, "write BIN-<id> (the baseline's ID) and switch a BIN symlink to it atomically (needs -o)")
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
				if *versioned {
					return runVersionedBuild(ctx, opts, stdout, stderr)
				}
				return runBuild(ctx, opts, stdout, stderr)
			}
		},
		parse: parseBuildArgs,
	}
}

// runBuild runs "hotpatch build".
func runBuild(ctx context.Context, opts patchbuild.BaselineOptions, stdout, stderr io.Writer) error {
	res, err := buildBaseline(ctx, opts, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: baseline %s, source of %d packages recorded\n", res.Output, res.Fingerprint.Hash()[:16], len(res.Sources))
	return nil
}

// versionDigits is how much of the baseline's ID ([fingerprint.BaselineID]: the
// fingerprint and the source record) names a versioned binary.
const versionDigits = 12

// runVersionedBuild runs "hotpatch build -versioned -o DIR/NAME": the
// baseline is built under a temporary name in DIR, renamed to
// NAME-<fingerprint>, and the link NAME switched to it.
func runVersionedBuild(ctx context.Context, opts patchbuild.BaselineOptions, stdout, stderr io.Writer) error {
	if opts.Output == "" {
		return usageError("-versioned needs -o DIR/NAME: the link to switch")
	}
	link := opts.Output
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symbolic link: -versioned never replaces a binary in place; move it aside (e.g. to %s-old) or build without -versioned", link, link)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir, name := filepath.Split(link)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("versioned build: %w", err)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+name+".build-*")
	if err != nil {
		return fmt.Errorf("versioned build: %w", err)
	}
	tmp.Close()
	// go build refuses to write over a file that is not an executable:
	// keep the unique name only.
	os.Remove(tmp.Name())
	defer os.Remove(tmp.Name()) // a no-op once renamed
	opts.Output = tmp.Name()
	res, err := buildBaseline(ctx, opts, stderr)
	if err != nil {
		return err
	}
	version := name + "-" + fingerprint.BaselineID(res.Fingerprint, res.Sources)[:versionDigits]
	// The baseline ID leaves out what does not change the code a patch
	// is built against (-ldflags -X, a build ID): two such builds share
	// it. The earlier one is kept; the new one gets the start of its own
	// content's hash as a suffix.
	if differ, err := contentsDiffer(filepath.Join(dir, version), tmp.Name()); err != nil {
		return fmt.Errorf("versioned build: %w", err)
	} else if differ {
		sum, err := fileSum(tmp.Name())
		if err != nil {
			return fmt.Errorf("versioned build: %w", err)
		}
		version += "-" + sum[:8]
	}
	target := filepath.Join(dir, version)
	// A rename, not a write: a process running an identical baseline
	// under that name keeps its file.
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("versioned build: %w", err)
	}
	prev, _ := os.Readlink(link)
	if err := switchLink(link, version); err != nil {
		return fmt.Errorf("versioned build: %s written, but %w", target, err)
	}
	fmt.Fprintf(stdout, "%s: baseline %s, source of %d packages recorded\n", target, res.Fingerprint.Hash()[:16], len(res.Sources))
	if prev != "" && prev != version {
		fmt.Fprintf(stdout, "%s -> %s (was %s, kept)\n", link, version, prev)
	} else {
		fmt.Fprintf(stdout, "%s -> %s\n", link, version)
	}
	return nil
}

// contentsDiffer reports whether the file at old exists and holds other
// bytes than the file at new.
func contentsDiffer(old, new string) (bool, error) {
	a, err := fileSum(old)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	b, err := fileSum(new)
	if err != nil {
		return false, err
	}
	return a != b, nil
}

// fileSum returns the hex SHA-256 of the file at path.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// switchLink points link at target (relative to link's directory) in one
// step: a new link under a temporary name, renamed over the old one.
func switchLink(link, target string) error {
	dir, name := filepath.Split(link)
	for i := 0; ; i++ {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.link-%d-%d", name, os.Getpid(), i))
		err := os.Symlink(target, tmp)
		if errors.Is(err, os.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return fmt.Errorf("switch link %s: %w", link, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("switch link %s: %w", link, err)
		}
		return nil
	}
}

// buildBaseline builds a baseline and prints its warnings.
func buildBaseline(ctx context.Context, opts patchbuild.BaselineOptions, stderr io.Writer) (*patchbuild.BaselineResult, error) {
	if opts.Package == "" {
		// Without a package, "." is meant; where there is no Go file,
		// the user needs the usage more than go list's complaint.
		if gofiles, _ := filepath.Glob("*.go"); len(gofiles) == 0 {
			return nil, usageError("no Go files in the current directory: name the main package to build")
		}
	}
	opts.Log = stderr
	res, err := patchbuild.BuildBaseline(ctx, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "hotpatch build: warning:", w)
	}
	return res, nil
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
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && !hasValue {
				value = "true"
			} else if !hasValue {
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
