package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

const patchBuildUsage = `usage: hotpatch patch build [-o OUT.so] --baseline BIN [--module DIR] [-v] FILE.go

Builds the patch source FILE.go into a native patch (a Go plugin) for the
baseline BIN: with BIN's Go version (the local toolchain must be it), BIN's
build flags, and the module versions of the source tree it was built from
(DIR, default the current directory, must be in BIN's main module). The
.so carries BIN's fingerprint and exports the slot implementations as
HotpatchSlots; see docs/native.md. A package the patch links whose source
differs from what BIN was built from is refused (BIN's source record, which
"hotpatch build" writes; a BIN from a plain "go build" has none, and is
built for with a warning). -v prints the go commands run.

usage: hotpatch patch build --kind process [-o OUT.proc] [--module-root DIR] FILE.go

Builds FILE.go into an executable that serves its slots as a process patch;
see docs/process.md.`

// nativePatchOptions are the settings of "hotpatch patch build" for the
// native kind.
type nativePatchOptions struct {
	Baseline, Source, Output, Module string
	Verbose                          bool
	Stdout, Stderr                   io.Writer
}

// cmdPatchBuildNative parses "hotpatch patch build" arguments (after
// "patch build") for the native kind and runs it. A --kind other than
// native is for another command.
func cmdPatchBuildNative(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hotpatch patch build", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts := nativePatchOptions{Stdout: stdout, Stderr: stderr}
	kind := fs.String("kind", "native", "")
	fs.StringVar(&opts.Output, "o", "", "")
	fs.StringVar(&opts.Baseline, "baseline", "", "")
	fs.StringVar(&opts.Module, "module", "", "")
	fs.BoolVar(&opts.Verbose, "v", false, "")
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintln(stdout, patchBuildUsage)
			return nil
		}
		return fmt.Errorf("%w: %v\n%s", errBadArgs, err, patchBuildUsage)
	}
	if *kind != "native" {
		return fmt.Errorf("%w: --kind %s is not built by this command\n%s", errBadArgs, *kind, patchBuildUsage)
	}
	if fs.NArg() != 1 || opts.Baseline == "" {
		return fmt.Errorf("%w: want --baseline BIN and one FILE.go\n%s", errBadArgs, patchBuildUsage)
	}
	opts.Source = fs.Arg(0)
	return patchBuildNative(ctx, opts)
}

// interleave moves the positional arguments after the flags, so that
// "patch build FILE.go --baseline BIN" works as well.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if f := fs.Lookup(name); f != nil && !strings.Contains(name, "=") && i+1 < len(args) {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return append(flags, rest...)
}

// patchBuildNative builds a native patch.
func patchBuildNative(ctx context.Context, opts nativePatchOptions) error {
	log := io.Discard
	if opts.Verbose {
		log = opts.Stderr
	}
	progress := &packageLines{w: opts.Stderr}
	plan, err := patchbuild.Prepare(ctx, patchbuild.Options{
		Baseline: opts.Baseline,
		Source:   opts.Source,
		Output:   opts.Output,
		Module:   opts.Module,
		Log:      log,
		Progress: progress,
	})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(opts.Stderr, "hotpatch patch build: warning:", w)
	}
	fmt.Fprintf(opts.Stderr, "hotpatch patch build: building %s as a plugin for %s (the first patch build for a baseline "+
		"compiles its dependencies again in plugin mode, which can take a minute; later ones reuse the build cache)\n",
		opts.Source, opts.Baseline)
	res, err := plan.Run(ctx)
	progress.flush()
	if err != nil {
		return err
	}
	out := res.Output
	if wd, err := os.Getwd(); err == nil && strings.HasPrefix(out, wd+string(os.PathSeparator)) {
		out = out[len(wd)+1:]
	}
	fmt.Fprintf(opts.Stdout, "%s: native patch %s for baseline %s, slots %s\n",
		out, res.Manifest.ID, res.Manifest.Baseline.Hash()[:16], strings.Join(res.Manifest.Slots, ", "))
	return nil
}

// packageLines shows the progress of a go build -v: the import path of
// each package as it is compiled, indented. Other lines (compiler
// messages) are left out: the error of a failed build carries them.
type packageLines struct {
	w       io.Writer
	partial []byte
}

func (p *packageLines) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.line(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
	}
}

func (p *packageLines) line(s string) {
	if s != "" && !strings.HasPrefix(s, "#") && !strings.ContainsAny(s, " \t:") {
		fmt.Fprintf(p.w, "\t%s\n", s)
	}
}

func (p *packageLines) flush() {
	p.line(string(p.partial))
	p.partial = nil
}
