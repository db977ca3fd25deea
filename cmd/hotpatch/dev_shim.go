package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// This file writes the export shims of "hotpatch dev": for each package
// of the module that holds a slot function, a file added to every build
// of a baseline (and of its native patches) with go build -overlay, never
// written into the tree, that exports what the package keeps unexported,
// so that a native patch, compiled in a package of its own, reaches it:
//
//	var HotpatchExport_f = f          // an unexported func, as a value
//	var HotpatchExportPtr_v = &v      // an unexported var: its address, shared
//	type HotpatchExport_T = T         // an unexported type: an alias, the same type
//	const HotpatchExport_c = c        // an unexported const
//
// A var is reached through its address: the patch reads and writes the
// server's variable, it never copies it. Only packages holding a slot
// function get shims: a slot body reaches the unexported names of its own
// package only, and a new slot directive is an edit outside a body, a
// baseline step, which writes the shims again.

// Prefixes of the names the shims declare. No Go code of the package may
// declare a name that starts with shimPrefix (checked: such a package
// gets no shims, and says why).
const (
	shimPrefix = "HotpatchExport"
	shimName   = shimPrefix + "_"    // funcs, types, consts
	shimPtr    = shimPrefix + "Ptr_" // the address of a var
)

// pkgShim is the export shim of one package.
type pkgShim struct {
	dir  string // the package's directory, module-relative, with slashes
	name string // the package's name
	file string // the shim's path, module-relative: a file the tree does not hold
	src  []byte // nil when the package gets no shim (why says why)
	why  string
	// reach gives, for each unexported package-level name the shim
	// exports, what a patch writes for it, with "P." standing for the
	// package's qualifier: "P.HotpatchExport_f", "(*P.HotpatchExportPtr_v)".
	reach map[string]string
	// skipped gives, for each unexported name the shim cannot export,
	// where it is declared and why.
	skipped map[string]string
}

// reachOf says what a patch writes, qualified by q, for the unexported
// package-level name, or why it cannot reach it.
func (s *pkgShim) reachOf(name, q string) (string, string) {
	if s == nil {
		return "", "no export shims were built for its package"
	}
	if s.why != "" {
		return "", s.why
	}
	if r, ok := s.reach[name]; ok {
		return strings.ReplaceAll(r, "P.", q+"."), ""
	}
	if why, ok := s.skipped[name]; ok {
		return "", why
	}
	return "", "the export shims do not cover it"
}

// buildShims writes the shims of the packages in files (the baseline's
// source, module-relative paths; only files in the build count) that hold
// a slot function, keyed by directory. onDisk says whether a
// module-relative path exists in the tree: the shim's file name must not.
// tags are the build's tags (GOFLAGS).
func buildShims(files map[string][]byte, onDisk func(rel string) bool, tags ...string) map[string]*pkgShim {
	byDir := map[string][]*srcFile{}
	for _, rel := range sortedKeys(inBuild(files, tags...)) {
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			continue // tests are not part of the server
		}
		f, err := parseSrc(rel, files[rel])
		if err != nil {
			continue // a file that does not parse fails the build anyway
		}
		dir := path.Dir(rel)
		byDir[dir] = append(byDir[dir], f)
	}
	out := map[string]*pkgShim{}
	for dir, fs := range byDir {
		hasSlot := false
		for _, f := range fs {
			for _, d := range f.file.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && slotOf(fd) != "" {
					hasSlot = true
				}
			}
		}
		if !hasSlot {
			continue
		}
		out[dir] = shimFor(dir, fs, onDisk)
	}
	return out
}

// shimFor writes the shim of the package made of fs, in dir.
func shimFor(dir string, fs []*srcFile, onDisk func(rel string) bool) *pkgShim {
	s := &pkgShim{dir: dir, name: fs[0].file.Name.Name, reach: map[string]string{}, skipped: map[string]string{}}
	if s.name == "main" {
		s.why = "it is in package main, which a plugin cannot import"
		return s
	}
	for i := 0; ; i++ {
		name := "zz_hotpatch_export.go"
		if i > 0 {
			name = fmt.Sprintf("zz_hotpatch_export%d.go", i)
		}
		if s.file = path.Join(dir, name); !onDisk(s.file) {
			break
		}
	}
	var funcs, ptrs, types, consts []string
	add := func(list *[]string, name string) {
		if !slices.Contains(*list, name) {
			*list = append(*list, name)
		}
	}
	// Names a //go:linkname directive binds to another symbol: the
	// linker resolves them only when referenced, and may refuse them
	// (a pull of a runtime internal), so a shim must not reference what
	// the package itself may not.
	linked := map[string]bool{}
	for _, f := range fs {
		for _, cg := range f.file.Comments {
			for _, c := range cg.List {
				if rest, ok := strings.CutPrefix(c.Text, "//go:linkname "); ok {
					if fields := strings.Fields(rest); len(fields) > 0 {
						linked[fields[0]] = true
					}
				}
			}
		}
	}
	for _, f := range fs {
		pos := func(p token.Pos) string { return f.fset.Position(p).String() }
		noLink := func(kind, n string, at token.Pos) {
			s.skipped[n] = fmt.Sprintf("%s: %s %s is bound to another symbol (//go:linkname, or assembly): "+
				"a shim leaves it out, as referring to it could fail the link", pos(at), kind, n)
		}
		for _, d := range f.file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				n := d.Name.Name
				if d.Recv == nil && strings.HasPrefix(n, shimPrefix) { // a method's name is its type's
					s.why = fmt.Sprintf("%s: the package declares %s, a name the export shims would use: it gets none", pos(d.Name.Pos()), n)
					return s
				}
				switch {
				case d.Recv != nil || ast.IsExported(n) || n == "_":
				case n == "init":
					// init cannot be referred to; nothing calls it twice.
				case d.Type.TypeParams != nil:
					s.skipped[n] = fmt.Sprintf("%s: func %s is generic: a shim cannot export it without instantiating it", pos(d.Name.Pos()), n)
				case d.Body == nil || linked[n]:
					noLink("func", n, d.Name.Pos())
				default:
					add(&funcs, n)
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						n := sp.Name.Name
						if strings.HasPrefix(n, shimPrefix) {
							s.why = fmt.Sprintf("%s: the package declares %s, a name the export shims would use: it gets none", pos(sp.Name.Pos()), n)
							return s
						}
						switch {
						case ast.IsExported(n) || n == "_":
						case sp.TypeParams != nil:
							s.skipped[n] = fmt.Sprintf("%s: type %s is generic: a shim cannot alias it without its type arguments", pos(sp.Name.Pos()), n)
						default:
							add(&types, n)
						}
					case *ast.ValueSpec:
						for _, id := range sp.Names {
							n := id.Name
							if strings.HasPrefix(n, shimPrefix) {
								s.why = fmt.Sprintf("%s: the package declares %s, a name the export shims would use: it gets none", pos(id.Pos()), n)
								return s
							}
							if ast.IsExported(n) || n == "_" {
								continue
							}
							switch {
							case d.Tok == token.CONST:
								add(&consts, n)
							case linked[n]:
								noLink("var", n, id.Pos())
							default:
								add(&ptrs, n)
							}
						}
					}
				}
			}
		}
	}
	if len(funcs)+len(ptrs)+len(types)+len(consts) == 0 {
		return s // nothing to export: no file
	}
	sort.Strings(funcs)
	sort.Strings(ptrs)
	sort.Strings(types)
	sort.Strings(consts)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hotpatch dev: the export shim of package %s for its native patches.\n"+
		"// It is added to the build with -overlay, never written into the tree. DO NOT EDIT.\n\npackage %s\n", s.name, s.name)
	block := func(kw string, names []string, line func(string) string) {
		if len(names) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (\n", kw)
		for _, n := range names {
			b.WriteString("\t" + line(n) + "\n")
		}
		b.WriteString(")\n")
	}
	block("var", funcs, func(n string) string { s.reach[n] = "P." + shimName + n; return shimName + n + " = " + n })
	block("var", ptrs, func(n string) string { s.reach[n] = "(*P." + shimPtr + n + ")"; return shimPtr + n + " = &" + n })
	block("type", types, func(n string) string { s.reach[n] = "P." + shimName + n; return shimName + n + " = " + n })
	block("const", consts, func(n string) string { s.reach[n] = "P." + shimName + n; return shimName + n + " = " + n })
	s.src = b.Bytes()
	return s
}

// shimSet is the shims of one baseline, written to disk for the go
// command: each shim file, and the overlay that adds them.
type shimSet struct {
	pkgs map[string]*pkgShim // by package directory, module-relative
	// files maps the absolute path a shim takes in the tree to the file
	// in the temporary directory that holds it.
	files map[string]string
}

// writeShims writes the shims of pkgs under dir, for the tree at root.
func writeShims(root, dir string, pkgs map[string]*pkgShim) (*shimSet, error) {
	set := &shimSet{pkgs: pkgs, files: map[string]string{}}
	for _, d := range sortedKeys(pkgs) {
		s := pkgs[d]
		if s.src == nil {
			continue
		}
		f := filepath.Join(dir, filepath.FromSlash(s.file))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f, s.src, 0o644); err != nil {
			return nil, err
		}
		set.files[filepath.Join(root, filepath.FromSlash(s.file))] = f
	}
	return set, nil
}
