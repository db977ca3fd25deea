package patchbuild

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// Values of BaselineOptions.Inline.
const (
	InlineModule = "module" // -gcflags=<main module>/...=-l: the default
	InlineAll    = "all"    // -gcflags=all=-l: nothing is inlined anywhere
	InlineNone   = "none"   // no flag: rely on //go:noinline on redirect targets
)

// BaselineOptions say how to build a patchable baseline.
type BaselineOptions struct {
	Package string // the main package to build; "" means "."
	Output  string // the binary to write; "" means go build's default name, in Dir
	// Inline says which code is compiled without inlining, so that
	// functions there stay out of line and can be redirected: InlineModule
	// (the default), InlineAll, InlineNone, or an import path pattern. A
	// -gcflags in Flags replaces it.
	Inline string
	Flags  []string // further go build flags, passed through
	Dir    string   // the working directory; "" means the current one
	Go     string   // the go command; "" means "go"
	Log    io.Writer
	// Overlay, if set, is a `go build -overlay` file (JSON, absolute
	// paths) given to the build and to the listings of the source record
	// (whose hashes read a replaced file's replacement). Unlike -overlay
	// in Flags, which is refused, the caller takes charge of it: the
	// binary does not record it, so each patch build for this baseline
	// must be given the same one ([Options.Overlay]).
	Overlay string
}

// BaselineResult describes a built baseline.
type BaselineResult struct {
	Output      string
	Command     []string
	Fingerprint fingerprint.Record
	Sources     fingerprint.Sources // the source record appended to Output
	Warnings    []string            // things that will keep patches from working, said before they fail
}

// valueFlags are the go build flags that take a value, which may follow as
// the next argument.
var valueFlags = map[string]bool{
	"C": true, "p": true, "asmflags": true, "buildmode": true, "buildvcs": false, "compiler": true,
	"gccgoflags": true, "gcflags": true, "installsuffix": true, "ldflags": true, "mod": true,
	"modfile": true, "overlay": true, "pgo": true, "pkgdir": true, "tags": true, "toolexec": true,
	"covermode": true, "coverpkg": true, "o": true,
}

// flagArg is one flag of a go build command line.
type flagArg struct {
	name, value string
	hasValue    bool
}

// parseFlags splits go build flags into flags, for inspection. It does not
// validate them; the go command does.
func parseFlags(args []string) ([]flagArg, error) {
	var out []flagArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("%w: %q is not a flag (the package comes last)", ErrFlags, a)
		}
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok && valueFlags[name] {
			if i+1 == len(args) {
				return nil, fmt.Errorf("%w: flag %s needs a value", ErrFlags, a)
			}
			i++
			value, ok = args[i], true
		}
		out = append(out, flagArg{name: name, value: value, hasValue: ok})
	}
	return out, nil
}

// BuildBaseline builds a binary that can take native patches:
//
//   - cgo on (CGO_ENABLED=1), which loading Go plugins needs;
//   - every build setting recorded in the binary, which the go command does
//     for the flags it was given, so `hotpatch patch build` can reproduce
//     them; flags it cannot record faithfully (-gcflags, -ldflags or
//     -asmflags given twice, -overlay, -toolexec) are refused;
//   - the code of the main module compiled without inlining (Inline), so
//     that its functions stay out of line and can be redirected, while the
//     standard library and dependencies keep their inlining;
//   - a source record appended to the binary
//     (internal/manifest.WriteSources): the content
//     hash of every package it links that no module sum pins, taken before
//     and after the build (a package edited meanwhile fails the build), so
//     that a patch built from a tree that differs is refused.
func BuildBaseline(ctx context.Context, opts BaselineOptions) (*BaselineResult, error) {
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Package == "" {
		opts.Package = "."
	}
	if opts.Inline == "" {
		opts.Inline = InlineModule
	}
	res := &BaselineResult{}
	flags, err := parseFlags(opts.Flags)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	var gcflags string
	for _, f := range flags {
		count[f.name]++
		switch f.name {
		case "gcflags":
			gcflags = f.value
		case "buildmode":
			if f.value != "exe" && f.value != "pie" && f.value != "default" {
				return nil, fmt.Errorf("%w: -buildmode=%s: a baseline is an executable (exe or pie)", ErrFlags, f.value)
			}
		case "o":
			return nil, fmt.Errorf("%w: give the output in BaselineOptions.Output, not as -o", ErrFlags)
		case "overlay", "toolexec", "modfile", "linkshared":
			return nil, fmt.Errorf("%w: -%s is not recorded in the binary's build information, so patches could not be built the same way", ErrFlags, f.name)
		}
	}
	for _, name := range []string{"gcflags", "ldflags", "asmflags"} {
		if count[name] > 1 {
			return nil, fmt.Errorf("%w: -%s given %d times: the binary records only the last one, so patches could not be built the same way; merge them into one", ErrFlags, name, count[name])
		}
	}
	if gf := os.Getenv("GOFLAGS"); regexp.MustCompile(`-(gc|ld|asm)flags`).MatchString(gf) {
		return nil, fmt.Errorf("%w: GOFLAGS=%q sets per-package compiler or linker flags, which the binary does not record; pass them on the command line", ErrFlags, gf)
	}

	env := setEnv(os.Environ(), "CGO_ENABLED=1")
	if v, ok := os.LookupEnv("CGO_ENABLED"); ok && v != "1" {
		res.Warnings = append(res.Warnings, "CGO_ENABLED="+v+" overridden: loading Go plugins needs cgo")
	}
	p := &Plan{Options: Options{Go: opts.Go, Overlay: opts.Overlay}, GoEnv: env}
	if p.overlay, err = readOverlay(opts.Overlay); err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	importPath, modPath, err := p.mainPackage(ctx, dir, opts.Package)
	if err != nil {
		return nil, err
	}

	args := []string{"build"}
	if opts.Overlay != "" {
		args = append(args, "-overlay="+opts.Overlay)
	}
	switch {
	case count["gcflags"] > 0:
		if !strings.Contains(" "+gcflags+" ", " -l ") && opts.Inline != InlineNone {
			res.Warnings = append(res.Warnings, "your -gcflags replaces the default -l: functions it does not cover may be inlined and then cannot be redirected")
		}
	case opts.Inline == InlineNone:
	case opts.Inline == InlineAll:
		args = append(args, "-gcflags=all=-l")
	case opts.Inline == InlineModule:
		if modPath == "" {
			return nil, fmt.Errorf("%w: %s is not in a module", ErrFlags, opts.Package)
		}
		args = append(args, "-gcflags="+modPath+"/...=-l")
	default:
		args = append(args, "-gcflags="+opts.Inline+"=-l")
	}
	args = append(args, opts.Flags...)
	listFlags := slices.Clone(args[1:])
	if opts.Output == "" {
		opts.Output = defaultExeName(importPath)
	}
	args = append(args, "-o", opts.Output, opts.Package)
	res.Command = append([]string{opts.Go}, args...)
	res.Output = opts.Output
	if !filepath.IsAbs(res.Output) {
		res.Output = filepath.Join(dir, res.Output)
	}
	// The source record is taken before and after the build: a file
	// edited while it ran could be in the binary or not, and the record
	// must say what is.
	before, err := p.sourceRecord(ctx, dir, listFlags, false, opts.Package)
	if err != nil {
		return nil, fmt.Errorf("%w: listing the packages of %s: %w", ErrGoBuild, opts.Package, err)
	}
	fmt.Fprintf(opts.Log, "CGO_ENABLED=1 %s\n", strings.Join(res.Command, " "))
	if _, err := p.goOutput(ctx, dir, args...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGoBuild, err)
	}
	after, err := p.sourceRecord(ctx, dir, listFlags, false, opts.Package)
	if err != nil {
		return nil, fmt.Errorf("%w: listing the packages of %s: %w", ErrGoBuild, opts.Package, err)
	}
	if changed := changedPackages(before, after); len(changed) > 0 {
		return nil, fmt.Errorf("%w: the source of %s changed while it was built; build again", ErrGoBuild, strings.Join(changed, ", "))
	}
	if err := manifest.WriteSources(res.Output, after); err != nil {
		return nil, fmt.Errorf("%w: recording the source of its packages in %s: %w", ErrGoBuild, res.Output, err)
	}
	res.Sources = after

	info, err := buildinfo.ReadFile(res.Output)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the build info of %s: %w", ErrGoBuild, res.Output, err)
	}
	if res.Fingerprint, err = fingerprint.FingerprintOf(info); err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, pluginReady(res.Output)...)
	return res, nil
}

// mainPackage returns the import path and module path of the main
// package pkg, as the go command in dir sees it, or says in one sentence
// why it is not one.
func (p *Plan) mainPackage(ctx context.Context, dir, pkg string) (importPath, modPath string, err error) {
	args := []string{"list", "-f", "{{.Name}}\t{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}"}
	if p.Overlay != "" {
		args = append(args, "-overlay="+p.Overlay)
	}
	out, err := p.goOutput(ctx, dir, append(args, pkg)...)
	if ge := (*goError)(nil); errors.As(err, &ge) {
		return "", "", fmt.Errorf("%w: %s: %s", ErrPackage, pkg, ge.stderr)
	}
	if err != nil {
		return "", "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		return "", "", fmt.Errorf("%w: %s names %d packages: name the one main package of the server", ErrPackage, pkg, len(lines))
	}
	fields := strings.Split(lines[0], "\t")
	if len(fields) != 3 {
		return "", "", fmt.Errorf("%w: %s: go list says %q", ErrPackage, pkg, lines[0])
	}
	if fields[0] != "main" {
		return "", "", fmt.Errorf("%w: %s is package %s (%s), not a main package: name the server's main package, the one with func main",
			ErrPackage, pkg, fields[0], fields[1])
	}
	return fields[1], fields[2], nil
}

// defaultExeName is go build's name for the binary of a main package.
func defaultExeName(importPath string) string {
	base := path.Base(importPath)
	if len(base) >= 2 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" && path.Dir(importPath) != "." {
		base = path.Base(path.Dir(importPath)) // example.com/cmd/tool/v2 -> tool
	}
	return base
}

// pluginReady says what would keep the binary from loading native patches.
func pluginReady(exe string) []string {
	f, err := elf.Open(exe)
	if err != nil {
		return nil // not ELF: nothing to say here
	}
	defer f.Close()
	var warn []string
	if !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		warn = append(warn, exe+" is statically linked: it cannot load plugins")
	}
	// Any function of package plugin will do: plugin.Open itself is
	// inlined into its callers (the native loader) where they are compiled
	// with inlining, so look for one that is not, such as plugin.open or
	// plugin.lastmoduleinit (the runtime's plugin support).
	syms, err := f.Symbols()
	if err == nil && !slices.ContainsFunc(syms, func(s elf.Symbol) bool { return strings.HasPrefix(s.Name, "plugin.") }) {
		warn = append(warn, exe+" does not link package plugin: import github.com/hotpatch-go/hotpatch/loader/native to load native patches")
	}
	return warn
}
