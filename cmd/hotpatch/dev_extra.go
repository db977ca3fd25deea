package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// This file finds the files a baseline is built from that the walk of
// the main module's .go files does not see: the files embedded with
// //go:embed, the C, assembly and object files of a package, and the
// packages of other modules on the disk (a replace directive to a local
// directory, the other modules of a go.work workspace) with their
// go.mod, and go.work itself. An edit of any of them changes the server,
// and is a baseline step: unwatched, it would go unseen until an
// unrelated save, and would make every native patch of the package fail
// its source record's check meanwhile.

// extraFiles is what listExtra found: for each file, by its path
// relative to the module's root ("../lib/lib.go" outside it), what it is
// to the build; and the directories of the packages outside the main
// module, whose new .go files count too.
type extraFiles struct {
	files  map[string]string // by root-relative path: "embedded by package P", ...
	dirs   map[string]string // by absolute path: "package P of module M"
	embeds []embedPattern    // the //go:embed patterns, whose new matches count too
}

// embedPattern is one //go:embed pattern of a package.
type embedPattern struct {
	pkg     string // the package's import path
	pattern string // absolute: the package's directory joined with the pattern, "all:" cut
	all     bool   // the pattern had "all:": a directory takes its . and _ files too
}

// embedded returns, for each file the patterns take now, by its path
// relative to root, the package that embeds it: a file matched by a
// pattern, and every file under a directory matched by one, as the go
// command takes them (names starting with . or _ only with all:), but
// for editors' temporary files (#name#, name~), which a save leaves for
// a moment.
func (x *extraFiles) embedded(root string) map[string]string {
	out := map[string]string{}
	add := func(abs, pkg string) {
		if rel, err := filepath.Rel(root, abs); err == nil {
			out[filepath.ToSlash(rel)] = pkg
		}
	}
	for _, e := range x.embeds {
		matches, _ := filepath.Glob(e.pattern)
		for _, m := range matches {
			fi, err := os.Stat(m)
			switch {
			case err != nil:
			case fi.Mode().IsRegular():
				add(m, e.pkg)
			case fi.IsDir():
				_ = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
					if err != nil || p == m {
						return nil
					}
					name := d.Name()
					skip := !e.all && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) ||
						strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~")
					switch {
					case d.IsDir() && skip:
						return filepath.SkipDir
					case skip:
					case d.Type().IsRegular():
						add(p, e.pkg)
					}
					return nil
				})
			}
		}
	}
	return out
}

// listedExtra is what listExtra asks of `go list -json=...`.
type listedExtra struct {
	ImportPath, Dir string
	Standard        bool
	GoFiles         []string
	CgoFiles        []string
	CFiles          []string
	CXXFiles        []string
	HFiles          []string
	SFiles          []string
	SysoFiles       []string
	EmbedFiles      []string
	EmbedPatterns   []string
	Module          *struct {
		Path, Dir, GoMod string
		Main             bool
	}
}

// listExtra lists, with the go command as the baseline's build ran it
// (the same overlay and GOFLAGS), the files of the main package's
// dependencies that are neither in the standard library, nor in the
// module cache (go.sum pins those), nor .go files of the main module.
// vendor/ is left out, as the walk leaves it out.
func (l *devLoop) listExtra(ctx context.Context, overlay string) (*extraFiles, error) {
	goOut := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, l.goCmd, args...)
		cmd.Dir = l.root
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s: %w\n%s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	env, err := goOut("env", "GOMODCACHE", "GOWORK")
	if err != nil {
		return nil, err
	}
	vals := strings.Split(env, "\n")
	cache, gowork := strings.TrimSpace(vals[0]), ""
	if len(vals) > 1 {
		gowork = strings.TrimSpace(vals[1])
	}
	args := []string{"list", "-deps", "-e", "-json=ImportPath,Dir,Standard,GoFiles,CgoFiles,CFiles,CXXFiles,HFiles,SFiles,SysoFiles,EmbedFiles,EmbedPatterns,Module"}
	if overlay != "" {
		args = append(args, "-overlay="+overlay)
	}
	list, err := goOut(append(args, "./"+l.pkgRel)...)
	if err != nil {
		return nil, err
	}
	x := &extraFiles{files: map[string]string{}, dirs: map[string]string{}}
	under := func(p, dir string) bool {
		return dir != "" && (p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)))
	}
	add := func(abs, what string) {
		rel, err := filepath.Rel(l.root, abs)
		if err != nil {
			return
		}
		rel = filepath.ToSlash(rel)
		if _, ok := x.files[rel]; !ok {
			x.files[rel] = what
		}
	}
	dec := json.NewDecoder(strings.NewReader(list))
	for {
		var p listedExtra
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		if p.Standard || p.Dir == "" || p.ImportPath == "C" || under(p.Dir, cache) || under(p.Dir, filepath.Join(l.root, "vendor")) {
			continue
		}
		inModule := under(p.Dir, l.root)
		if inModule {
			// A nested module's directory is not walked either.
			if p.Module != nil && p.Module.Dir != "" && p.Module.Dir != l.root {
				inModule = false
			}
		}
		for _, name := range p.EmbedFiles {
			add(filepath.Join(p.Dir, filepath.FromSlash(name)), "embedded by package "+p.ImportPath)
		}
		for _, pat := range p.EmbedPatterns {
			all := strings.HasPrefix(pat, "all:")
			pat = strings.TrimPrefix(pat, "all:")
			x.embeds = append(x.embeds, embedPattern{pkg: p.ImportPath, pattern: filepath.Join(p.Dir, filepath.FromSlash(pat)), all: all})
		}
		for _, name := range slices.Concat(p.CFiles, p.CXXFiles, p.HFiles, p.SFiles, p.SysoFiles) {
			add(filepath.Join(p.Dir, name), "compiled into package "+p.ImportPath)
		}
		if inModule {
			continue
		}
		of := "package " + p.ImportPath
		if p.Module != nil {
			of += " of module " + p.Module.Path
			if p.Module.GoMod != "" && !under(p.Module.GoMod, cache) {
				add(p.Module.GoMod, "the go.mod of module "+p.Module.Path)
			}
		}
		of += ", outside the main module"
		x.dirs[p.Dir] = of
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
			add(filepath.Join(p.Dir, name), "a file of "+of)
		}
	}
	if gowork != "" && gowork != "off" {
		add(gowork, "the workspace file")
		add(gowork+".sum", "the workspace's sums")
	}
	return x, nil
}

// scanExtra adds to out (scan's) the state of the extra files, and of
// the .go files (not tests) of the packages outside the main module, so
// that a new one counts.
func (l *devLoop) scanExtra(out map[string]fileState) {
	if l.extra == nil {
		return
	}
	stat := func(abs string) {
		fi, err := os.Stat(abs) // through a link, as the go command reads it
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		if rel, err := filepath.Rel(l.root, abs); err == nil {
			out[filepath.ToSlash(rel)] = fileState{mod: fi.ModTime(), size: fi.Size()}
		}
	}
	for rel := range l.extra.files {
		if _, ok := out[rel]; !ok {
			stat(filepath.Join(l.root, filepath.FromSlash(rel)))
		}
	}
	for rel := range l.extra.embedded(l.root) { // a new file a pattern takes
		if _, ok := out[rel]; !ok {
			stat(filepath.Join(l.root, filepath.FromSlash(rel)))
		}
	}
	for dir := range l.extra.dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if name := e.Name(); strings.HasSuffix(name, ".go") && watched(name) {
				stat(filepath.Join(dir, name))
			}
		}
	}
}

// extraReason says why a change of rel, a file other than a .go file of
// the main module, is a baseline step.
func (l *devLoop) extraReason(rel string) string {
	what := ""
	if l.extra != nil {
		what = l.extra.files[rel]
		if what == "" {
			if pkg := l.extra.embedded(l.root)[rel]; pkg != "" {
				what = "embedded by package " + pkg
			}
		}
		if what == "" {
			what = l.extra.dirs[filepath.Join(l.root, filepath.FromSlash(filepath.Dir(rel)))]
			if what != "" {
				what = "a file of " + what
			}
		}
	}
	switch {
	case what != "" && strings.HasSuffix(rel, ".go"):
		return fmt.Sprintf("%s changed (%s): only slot bodies of the main module are hot", rel, what)
	case what != "":
		return fmt.Sprintf("%s changed (%s)", rel, what)
	}
	return rel + " changed"
}

// mainGo says whether rel, a path relative to the module's root, is a .go
// file of the main module: inside it, and not in the directory of a
// package of another module (one nested in the main module's tree and
// replaced or in the workspace).
func (l *devLoop) mainGo(rel string) bool {
	if !strings.HasSuffix(rel, ".go") || !filepath.IsLocal(rel) {
		return false
	}
	return l.extra == nil || l.extra.files[rel] == "" && l.extra.dirs[filepath.Join(l.root, filepath.FromSlash(path.Dir(rel)))] == ""
}

// extraGone says whether rel, an extra file the baseline was built from
// and the scan no longer lists, is gone from the disk (a removal the
// build must see), rather than no longer used by the build.
func (l *devLoop) extraGone(rel string) bool {
	_, err := os.Stat(filepath.Join(l.root, filepath.FromSlash(rel)))
	return err != nil
}
