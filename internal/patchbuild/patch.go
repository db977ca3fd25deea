package patchbuild

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/loader"
)

// WorkDir is where, under the main module's root, each patch build gets its
// own package directory: <module root>/.hotpatch/build/<id>. The patch
// must be built inside the host's module so that it resolves the same
// go.mod and go.sum, and may import the host's own packages; the unique
// directory gives each build a unique import path, hence a unique plugin
// path, which Go requires of every plugin loaded into one process. The
// directory is removed after the build, and .hotpatch holds a .gitignore
// of "*" so that version control never sees it.
const WorkDir = ".hotpatch/build"

// MaxSource is the largest patch source file a build reads: 16 MiB.
const MaxSource = 16 << 20

// Options say what to build. Baseline and Source are required.
type Options struct {
	Baseline string // the baseline binary the patch is for
	Source   string // the patch source file (DESIGN.md directives)
	Output   string // the .so to write; "" means Source's base name with .so, in the current directory
	Module   string // a directory in the host's main module; "" means the current directory
	Go       string // the go command; "" means "go" from PATH
	Log      io.Writer
	// Progress, if set, receives the names of the packages the go command
	// compiles, as it compiles them (go build -v): the first patch build
	// for a baseline compiles every dependency again in plugin mode, which
	// takes a while; later ones find them in the build cache.
	Progress io.Writer
	KeepWork bool // keep the build directory, for debugging
	// Overlay, if set, is a `go build -overlay` file (JSON, absolute
	// paths) that every go command of the build is given: the build and
	// the listings of the source record, whose hashes read a replaced
	// file's replacement. The go command does not record it in the
	// baseline, so the caller gives the very overlay the baseline was
	// built with ([BaselineOptions.Overlay]): a plugin must see its
	// packages byte for byte as the baseline did, or it will not load.
	Overlay string
}

// Plan is a prepared patch build: everything [Plan.Run] will write and run.
// Tests and tools may inspect or adjust it before running it.
type Plan struct {
	Options
	Info     *debug.BuildInfo  // the baseline's build information
	Manifest manifest.Manifest // what goes into the .so's section
	ModRoot  string            // the main module's root directory
	Dir      string            // the build directory, relative to ModRoot
	Files    map[string][]byte // file name -> content, written into Dir
	Flags    []string          // go build flags reproduced from the baseline
	Env      []string          // environment settings reproduced from the baseline
	GoEnv    []string          // the full environment of the go command
	Warnings []string          // what may keep the patch from working, said before it fails

	imports []string            // the patch source's imports, whose source record the manifest carries
	tree    fingerprint.Sources // their source record in the tree, taken by Prepare
	overlay map[string]string   // Overlay's replacements, by absolute path ("" for a removed file)
}

// Result describes a built patch.
type Result struct {
	Output   string            // the .so written
	Manifest manifest.Manifest // its manifest
	Command  []string          // the go command that built it
}

// Build prepares and runs a patch build.
func Build(ctx context.Context, opts Options) (*Result, error) {
	p, err := Prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

// Prepare reads the baseline and the patch source and checks that a patch
// can be built for the baseline here: the local toolchain is the
// baseline's, the module is the baseline's main module, the source parses
// and its directives are well-formed.
func Prepare(ctx context.Context, opts Options) (*Plan, error) {
	if opts.Baseline == "" || opts.Source == "" {
		return nil, fmt.Errorf("%w: a baseline binary and a patch source are required", ErrSource)
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Module == "" {
		opts.Module = "."
	}
	src, _, err := patchfile.ReadFile(opts.Source, MaxSource)
	if err != nil {
		return nil, err
	}
	absSource, err := filepath.Abs(opts.Source)
	if err != nil {
		return nil, err
	}
	if opts.Output == "" {
		opts.Output = strings.TrimSuffix(filepath.Base(opts.Source), ".go") + manifest.NativeExt
	}
	if opts.Output, err = filepath.Abs(opts.Output); err != nil {
		return nil, err
	}

	info, err := readBuildInfo(opts.Baseline)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBaseline, opts.Baseline, err)
	}
	rec, err := fingerprint.FingerprintOf(info)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBaseline, opts.Baseline, err)
	}
	flags, env, err := Reproduce(info.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Baseline, err)
	}

	s, err := loader.Parse(opts.Source, src)
	if err != nil {
		return nil, err
	}
	redirects, err := redirectsOf(s)
	if err != nil {
		return nil, err
	}
	if err := checkConstraint(opts.Source, src, info); err != nil {
		return nil, err
	}

	p := &Plan{Options: opts, Info: info, Flags: flags, Env: env}
	if p.overlay, err = readOverlay(opts.Overlay); err != nil {
		return nil, err
	}
	p.GoEnv = setEnv(os.Environ(), "GOFLAGS=") // the baseline's flags, not the caller's
	if os.Getenv("GOTOOLCHAIN") == "" {
		p.GoEnv = setEnv(p.GoEnv, "GOTOOLCHAIN=local")
	}
	p.GoEnv = setEnv(p.GoEnv, env...)

	if err := p.checkToolchain(ctx); err != nil {
		return nil, err
	}
	modPath := info.Main.Path
	if p.ModRoot, err = p.moduleRoot(ctx, modPath); err != nil {
		return nil, err
	}

	if err := p.checkSources(ctx, s); err != nil {
		return nil, err
	}
	p.Warnings = append(p.Warnings, baselineWarnings(opts.Baseline, info)...)

	id := buildID(opts.Source)
	p.Dir = path.Join(WorkDir, id)
	sum := sha256.Sum256(src)
	p.Manifest = manifest.Manifest{
		Kind:      manifest.KindNative,
		ID:        id,
		Package:   modPath + "/" + p.Dir,
		Source:    filepath.Base(opts.Source),
		SourceSum: "sha256:" + hex.EncodeToString(sum[:]),
		Baseline:  rec,
		Sources:   p.tree,
	}
	funcs := make(map[string]string, len(s.Directives))
	for _, d := range s.Directives {
		funcs[d.Slot] = d.Func
	}
	for _, name := range slices.Sorted(maps.Keys(funcs)) {
		p.Manifest.Slots = append(p.Manifest.Slots, manifest.Slot{Name: name})
	}
	for _, r := range redirects {
		p.Manifest.Redirects = append(p.Manifest.Redirects, r.name)
	}
	slices.Sort(p.Manifest.Redirects)
	if own := ownNames(s); len(own) > 0 {
		return nil, fmt.Errorf("%w: %s declares %s: names starting with %q and %s are the generated code's; rename them",
			ErrSource, opts.Source, strings.Join(own, ", "), wrapPrefix, manifest.SymbolWrap)
	}
	gen, err := generate(p.Manifest, funcs, len(redirects) > 0)
	if err != nil {
		return nil, err
	}
	wrap, unwrapped, err := wrappers(s, funcs, redirects)
	if err != nil {
		return nil, err
	}
	for _, name := range unwrapped {
		p.Warnings = append(p.Warnings, fmt.Sprintf("redirect %s: the replacement is not the name of a func declared in %s, "+
			"so no wrapper reports its panics (they go on up unreported); declare it as a func of the patch to have them reported",
			name, filepath.Base(opts.Source)))
	}
	p.Files = map[string][]byte{
		patchFile:     append(rewritePatch(absSource, src, s, redirects), wrap...),
		GeneratedFile: gen,
	}
	return p, nil
}

// readBuildInfo reads the build information of the binary at path,
// opened without blocking: a FIFO given as the baseline is refused, not
// waited on.
func readBuildInfo(path string) (*debug.BuildInfo, error) {
	f, _, err := patchfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return buildinfo.Read(f)
}

// checkToolchain refuses a local toolchain other than the baseline's: a
// plugin must be built by the very toolchain of its host.
func (p *Plan) checkToolchain(ctx context.Context) error {
	out, err := p.goOutput(ctx, p.Module, "env", "GOVERSION")
	if err != nil {
		return err
	}
	local := strings.TrimSpace(out)
	if local != p.Info.GoVersion {
		return fmt.Errorf("%w: %s was built with %s, the local go command is %s: install %s, or run with GOTOOLCHAIN=%s",
			ErrToolchain, p.Baseline, p.Info.GoVersion, local, p.Info.GoVersion, p.Info.GoVersion)
	}
	return nil
}

// moduleRoot returns the root directory of module modPath as the go
// command sees it from p.Module.
func (p *Plan) moduleRoot(ctx context.Context, modPath string) (string, error) {
	out, err := p.goOutput(ctx, p.Module, "list", "-m", "-f", "{{.Path}}\t{{.Dir}}")
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrModule, p.Module, err)
	}
	var have []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		mp, dir, _ := strings.Cut(line, "\t")
		if mp == modPath && dir != "" {
			return dir, nil
		}
		if mp != "command-line-arguments" { // what go list -m says outside any module
			have = append(have, "module "+mp)
		}
	}
	if len(have) == 0 {
		have = []string{"no module (there is no go.mod in it or above it)"}
	}
	return "", fmt.Errorf("%w: %s was built from module %s, but %s is in %s: build the patch in the baseline's source tree, "+
		"or name a directory of it (--module DIR of `hotpatch patch build`, Options.Module)",
		ErrModule, p.Baseline, modPath, p.Module, strings.Join(have, ", "))
}

// Command returns the go command Run will run, relative to ModRoot.
func (p *Plan) Command(out string) []string {
	args := []string{p.Go, "build", "-buildmode=plugin", "-buildvcs=false"}
	if p.Progress != nil {
		args = append(args, "-v")
	}
	if p.Overlay != "" {
		args = append(args, "-overlay="+p.Overlay)
	}
	args = append(args, p.Flags...)
	return append(args, "-o", out, "./"+p.Dir)
}

// Run writes the build directory, runs the go command, checks that the
// plugin links exactly the baseline's module versions and settings, and
// moves it into place atomically (it is written under a hidden temporary
// name beside Output first, which directory watchers ignore).
func (p *Plan) Run(ctx context.Context) (*Result, error) {
	dir := filepath.Join(p.ModRoot, filepath.FromSlash(p.Dir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ignore := filepath.Join(p.ModRoot, ".hotpatch", ".gitignore")
	if _, err := os.Stat(ignore); os.IsNotExist(err) {
		_ = os.WriteFile(ignore, []byte("# Patch builds of hotpatch; see `hotpatch patch build`.\n*\n"), 0o644)
	}
	if !p.KeepWork {
		defer os.RemoveAll(dir)
	}
	for name, data := range p.Files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	tmp := filepath.Join(filepath.Dir(p.Output), "."+filepath.Base(p.Output)+"."+p.Manifest.ID+".tmp")
	defer os.Remove(tmp)
	cmd := p.Command(tmp)
	fmt.Fprintf(p.Log, "cd %s && %s\n", p.ModRoot, strings.Join(cmd, " "))
	if _, err := p.goRun(ctx, p.ModRoot, p.Progress, cmd[1:]...); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrGoBuild, p.Source, err)
	}
	// The record in the manifest was taken before the build; a file edited
	// since could be in the plugin or not.
	after, err := p.sourceRecord(ctx, p.ModRoot, p.Flags, true, p.imports...)
	if err != nil {
		return nil, fmt.Errorf("%w: listing the packages of the patch: %w", ErrGoBuild, err)
	}
	if changed := changedPackages(p.Manifest.Sources, after); len(changed) > 0 {
		return nil, fmt.Errorf("%w: the source of %s changed while the patch was built; build it again", ErrGoBuild, strings.Join(changed, ", "))
	}
	built, err := buildinfo.ReadFile(tmp)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the build info of the plugin: %w", ErrGoBuild, err)
	}
	if diffs := mismatch(built, p.Manifest.Baseline); len(diffs) > 0 {
		var b strings.Builder
		for _, d := range diffs {
			b.WriteString("\n\t" + d.Describe("patch", "baseline"))
		}
		return nil, fmt.Errorf("%w: the plugin would be refused by %s (has go.mod, go.sum or the toolchain changed since it was built?):%s",
			ErrMismatch, p.Baseline, b.String())
	}
	if err := os.Rename(tmp, p.Output); err != nil {
		return nil, err
	}
	return &Result{Output: p.Output, Manifest: p.Manifest, Command: cmd}, nil
}

// mismatch lists what a plugin's own build information says differs from
// its baseline's in a way that matters: the Go version, the version of a
// module both link, a build setting. The plugin links a subset of the
// baseline's modules, may link modules the baseline does not, and is built
// without VCS stamping and with its own main module version; those are not
// differences.
func mismatch(plugin *debug.BuildInfo, baseline fingerprint.Record) []fingerprint.Difference {
	rec, err := fingerprint.FingerprintOf(plugin)
	if err != nil {
		return []fingerprint.Difference{{What: "build information", A: err.Error()}}
	}
	var out []fingerprint.Difference
	for _, d := range fingerprint.Diff(rec, baseline) {
		switch {
		case strings.HasPrefix(d.What, "main module"):
		case strings.HasPrefix(d.What, "dependency ") && (d.A == "" || d.B == ""):
		case strings.HasPrefix(d.What, "build setting vcs"):
		default:
			out = append(out, d)
		}
	}
	return out
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// buildID returns a new unique ID: the patch's name, the time, and random
// bits, usable as a path element.
func buildID(source string) string {
	name := idUnsafe.ReplaceAllString(strings.TrimSuffix(filepath.Base(source), ".go"), "_")
	if name == "" || len(name) > 32 {
		name = "patch"
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%s_%s_%s", name, time.Now().UTC().Format("20060102T150405"), hex.EncodeToString(rnd[:]))
}

// goOutput runs the go command in dir with the plan's environment and
// returns its standard output; on failure the error holds its output.
func (p *Plan) goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	return p.goRun(ctx, dir, nil, args...)
}

// goRun is goOutput that also copies the command's standard error to
// progress, if not nil, as it comes.
func (p *Plan) goRun(ctx context.Context, dir string, progress io.Writer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.Go, args...)
	cmd.Dir = dir
	cmd.Env = p.GoEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, progress)
	}
	if err := cmd.Run(); err != nil {
		return "", &goError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// goError is a go command that failed: the command, how, and what it said.
type goError struct {
	args   []string
	err    error
	stderr string
}

func (e *goError) Error() string {
	return fmt.Sprintf("go %s: %v\n%s", strings.Join(e.args, " "), e.err, e.stderr)
}

func (e *goError) Unwrap() error { return e.err }

// checkSources compares the source of the packages the patch links, as
// the tree holds them now, with the baseline's source record, and refuses
// a tree that differs ([*DriftError]): the patch would carry code the
// running binary does not contain. Only packages both record are
// compared: a patch links a part of the baseline, and may link packages of
// its own.
func (p *Plan) checkSources(ctx context.Context, s *loader.Source) error {
	base, warn, err := readBaselineSources(p.Baseline)
	if err != nil {
		return err
	}
	if warn != "" {
		p.Warnings = append(p.Warnings, warn)
	}
	for _, imp := range s.AST.Imports {
		if path, err := strconv.Unquote(imp.Path.Value); err == nil {
			p.imports = append(p.imports, path)
		}
	}
	p.imports = sourceImports(p.imports)
	if p.tree, err = p.sourceRecord(ctx, p.ModRoot, p.Flags, true, p.imports...); err != nil {
		return fmt.Errorf("%w: listing the packages the patch imports: %w", ErrModule, err)
	}
	if diffs := fingerprint.DiffSources(p.tree, base); len(diffs) > 0 {
		return &DriftError{Baseline: p.Baseline, Differences: diffs}
	}
	return nil
}

// baselineWarnings says what in a baseline's build may keep a patch from
// working, as `hotpatch build` says it of the baselines it builds.
func baselineWarnings(baseline string, info *debug.BuildInfo) []string {
	var warn []string
	gcflags := ""
	for _, s := range info.Settings {
		if s.Key == "-gcflags" {
			gcflags = s.Value
		}
	}
	if !strings.Contains(" "+gcflags+" ", " -l ") && !strings.Contains(gcflags, "=-l") {
		warn = append(warn, baseline+" was built without -l in -gcflags (not with `hotpatch build`?): "+
			"its functions may be inlined where they are called, and a redirection changes nothing there")
	}
	return append(warn, pluginReady(baseline)...)
}
