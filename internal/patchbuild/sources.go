package patchbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// listedPackage is what `go list -json` says of a package: the fields the
// source record needs.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles, CgoFiles, CFiles, CXXFiles, MFiles, HFiles, FFiles, SFiles,
	SwigFiles, SwigCXXFiles, SysoFiles, EmbedFiles []string
	Module *struct{ GoVersion string }
	Error  *struct{ Err string }
}

// listFields are the fields asked of `go list -json=...`.
const listFields = "ImportPath,Dir,Standard,GoFiles,CgoFiles,CFiles,CXXFiles,MFiles,HFiles,FFiles,SFiles," +
	"SwigFiles,SwigCXXFiles,SysoFiles,EmbedFiles,Module,Error"

// sourceRecord returns the source record (see [fingerprint.Sources]) of pkgs and
// everything they import, as the go command in dir with the plan's
// environment and the given build flags sees them: every package outside
// the standard library and outside the module cache (whose content go.sum
// pins and the fingerprint compares) is hashed. With tolerant, packages
// the go command cannot load are skipped (the build that follows reports
// them better).
func (p *Plan) sourceRecord(ctx context.Context, dir string, flags []string, tolerant bool, pkgs ...string) (fingerprint.Sources, error) {
	out := fingerprint.Sources{}
	if len(pkgs) == 0 {
		return out, nil
	}
	cache, err := p.goOutput(ctx, dir, "env", "GOMODCACHE")
	if err != nil {
		return nil, err
	}
	cache = strings.TrimSpace(cache)
	args := []string{"list", "-deps", "-json=" + listFields}
	if tolerant {
		args = append(args, "-e")
	}
	if p.Overlay != "" {
		args = append(args, "-overlay="+p.Overlay)
	}
	args = append(append(args, selectionFlags(flags)...), pkgs...)
	list, err := p.goOutput(ctx, dir, args...)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(list))
	for {
		var pkg listedPackage
		if err := dec.Decode(&pkg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		if pkg.Standard || pkg.Error != nil || pkg.Dir == "" || pkg.ImportPath == "C" ||
			cache != "" && strings.HasPrefix(pkg.Dir, cache+string(filepath.Separator)) {
			continue
		}
		sum, err := packageSum(pkg, p.overlay)
		if err != nil {
			return nil, err
		}
		out[pkg.ImportPath] = sum
	}
	return out, nil
}

// packageSum hashes the names and contents of a package's source files,
// and the Go version its module's go.mod states: that version is the
// language the files are compiled as (the scope of loop variables, for
// one), so a go.mod edited from "go 1.21" to "go 1.22" changes what the
// same files do. A file the overlay replaces is read from its
// replacement, as the go command compiles it.
func packageSum(pkg listedPackage, overlay map[string]string) (string, error) {
	names := slices.Concat(pkg.GoFiles, pkg.CgoFiles, pkg.CFiles, pkg.CXXFiles, pkg.MFiles, pkg.HFiles, pkg.FFiles,
		pkg.SFiles, pkg.SwigFiles, pkg.SwigCXXFiles, pkg.SysoFiles, pkg.EmbedFiles)
	slices.Sort(names)
	names = slices.Compact(names)
	h := sha256.New()
	if pkg.Module != nil {
		fmt.Fprintf(h, "go %s\x00", pkg.Module.GoVersion)
	}
	for _, name := range names {
		file := filepath.Join(pkg.Dir, filepath.FromSlash(name))
		if r, ok := overlay[file]; ok && r != "" {
			file = r
		}
		if err := hashFile(h, name, file); err != nil {
			return "", fmt.Errorf("package %s: %w", pkg.ImportPath, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes name, the size and the content of the file at path to
// h, streamed: an embedded file may be large.
func hashFile(h io.Writer, name, path string) error {
	f, fi, err := patchfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(h, "%s\x00%d\x00", name, fi.Size())
	if n, err := io.Copy(h, f); err != nil {
		return err
	} else if n != fi.Size() {
		return fmt.Errorf("%s: changed while it was read (%d bytes, then %d)", path, fi.Size(), n)
	}
	return nil
}

// readOverlay reads a `go build -overlay` file: its replacements, by
// absolute path. "" reads as no overlay.
func readOverlay(file string) (map[string]string, error) {
	if file == "" {
		return nil, nil
	}
	b, _, err := patchfile.ReadFile(file, MaxSource)
	if err != nil {
		return nil, fmt.Errorf("%w: overlay: %w", ErrFlags, err)
	}
	var o struct{ Replace map[string]string }
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%w: overlay %s: %w", ErrFlags, file, err)
	}
	out := make(map[string]string, len(o.Replace))
	for k, v := range o.Replace {
		if !filepath.IsAbs(k) || v != "" && !filepath.IsAbs(v) {
			return nil, fmt.Errorf("%w: overlay %s: %q => %q: give absolute paths (the go commands run in other directories)", ErrFlags, file, k, v)
		}
		out[filepath.Clean(k)] = v
	}
	return out, nil
}

// DriftError reports a source tree whose packages differ from those the
// baseline was built from: a patch built from it would carry code the
// running binary does not contain. It matches [ErrDrift].
type DriftError struct {
	Baseline    string                   // the baseline binary
	Differences []fingerprint.Difference // the tree is the first side, the baseline the second
}

func (e *DriftError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %s was built from other source than this tree holds now; the patch links these packages, which differ:",
		ErrDrift, e.Baseline)
	for _, d := range e.Differences {
		b.WriteString("\n\t" + d.Describe("tree", "baseline"))
	}
	b.WriteString("\nThe running binary does not contain these changes, and a patch cannot bring them safely: " +
		"take the baseline step (rebuild with `hotpatch build` and restart), or put the files back as they were " +
		"when the baseline was built and build the patch again.")
	return b.String()
}

func (e *DriftError) Unwrap() error { return ErrDrift }

// sourceImports returns the import paths of a patch source for its source
// record: all but "C", sorted.
func sourceImports(paths []string) []string {
	out := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "C" })
	slices.Sort(out)
	return slices.Compact(out)
}

// readBaselineSources reads the source record of the baseline; a baseline
// without one gives a nil record and a warning.
func readBaselineSources(baseline string) (fingerprint.Sources, string, error) {
	s, err := manifest.ReadSources(baseline)
	switch {
	case errors.Is(err, manifest.ErrNoSources):
		return nil, baseline + " carries no record of its packages' source: it was not built with `hotpatch build` " +
			"(or a tool such as strip or objcopy rewrote it since, which drops the record), " +
			"so nothing can check that this tree is the one it was built from, and a package edited since then " +
			"would reach the server through the patch; build the baseline with `hotpatch build` and leave it as it is", nil
	case errors.Is(err, manifest.ErrBad):
		return nil, "", fmt.Errorf("%w: %s: the record of its packages' source cannot be read (%w): the file was changed "+
			"after `hotpatch build`, and the server running it refuses every native patch; build it again with "+
			"`hotpatch build` and restart", ErrBaseline, baseline, err)
	case err != nil:
		return nil, "", fmt.Errorf("%w: %w", ErrBaseline, err)
	}
	return s, "", nil
}

// changedPackages lists the packages whose hash differs between two
// records, or that only one of them has.
func changedPackages(a, b fingerprint.Sources) []string {
	var out []string
	for p, h := range a {
		if b[p] != h {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// selectionFlags keeps the build flags that change which packages and
// files a build uses (build tags, and the tags that -race, -msan, -asan
// and -cover imply; module mode), which is all `go list` needs here. The
// others change how code compiles, which the fingerprint compares, or,
// like -overlay, replace files whose content the record must read from
// disk.
func selectionFlags(flags []string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(flags[i], "-"), "=")
		switch name {
		case "tags", "mod":
			out = append(out, flags[i])
			if !hasValue && i+1 < len(flags) {
				i++
				out = append(out, flags[i])
			}
		case "race", "msan", "asan", "cover":
			out = append(out, flags[i])
		default:
			if !hasValue && valueFlags[name] && i+1 < len(flags) {
				i++ // skip the value too
			}
		}
	}
	return out
}
