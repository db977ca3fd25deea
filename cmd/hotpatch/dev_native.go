package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// This file writes the native patch of a hot edit: the source that
// `hotpatch patch build` takes, built against the running baseline with
// the baseline's export shims (dev_shim.go). It is the delivery when a
// script cannot be written or the server refuses it: a native patch runs
// whatever Go runs, and reaches the package's unexported package-level
// names through the shims.
//
// Unlike the script's, its names are resolved with the parser's scopes
// (go/parser's object resolution, no type checker): a name declared in
// the function is local where it is in scope, and elsewhere the
// package-level name it shadows is qualified. What the source alone
// cannot tell, and a patch in another package could not reach anyway,
// is refused with its position: a lowercase selector x.m (an unexported
// method or field of a type of the package), a lowercase key of a
// composite literal (an unexported field), a key that may be a field or
// a package-level name.

// nativeSource writes the native patch source for e: package patch, the
// imports its function uses, the directive, the function with its new
// body, the package's exported names qualified and its unexported ones
// reached through the shim, and /*line*/ comments that keep the
// compiler's positions on the module's file (abs, its absolute path).
// It returns why it cannot when the body reaches what a patch cannot.
func nativeSource(e hotEdit, pkg pkgInfo, shim *pkgShim, abs string) (src []byte, reason string) {
	f := e.file
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, f.rel, f.src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Sprintf("%s does not parse: %v", f.rel, err)
	}
	var fd *ast.FuncDecl
	for _, d := range file.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Recv == nil && d.Name.Name == e.fn && slotOf(d) == e.slot {
			fd = d
		}
	}
	if fd == nil {
		return nil, fmt.Sprintf("%s: func %s not found", f.rel, e.fn)
	}
	imports := map[string]*ast.ImportSpec{}
	for _, is := range file.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		name := importName(p)
		if is.Name != nil {
			name = is.Name.Name
		}
		if name == "." {
			return nil, fmt.Sprintf("%s imports %s with a dot: a patch cannot tell its names from the package's", f.rel, p)
		}
		if name != "_" {
			imports[name] = is
		}
	}
	// Names of fields and methods declared inside the function: x.m and
	// {m: ...} may name those, lowercase or not.
	ownFields := map[string]bool{}
	ast.Inspect(fd, func(n ast.Node) bool {
		var fl *ast.FieldList
		switch n := n.(type) {
		case *ast.StructType:
			fl = n.Fields
		case *ast.InterfaceType:
			fl = n.Methods
		}
		if fl != nil {
			for _, fld := range fl.List {
				for _, id := range fld.Names {
					ownFields[id.Name] = true
				}
			}
		}
		return true
	})
	// local says whether id is declared in the function, or is the
	// function itself: a recursive call runs the new body, as it would
	// in a baseline built from it.
	local := func(id *ast.Ident) bool {
		if id.Obj == nil {
			return false
		}
		d, ok := id.Obj.Decl.(ast.Node)
		return ok && d.Pos() >= fd.Pos() && d.Pos() < fd.End()
	}
	// pkgLevel says whether id names a package-level name of the package:
	// declared in this file outside the function, or not declared in the
	// file at all and declared by another file of the package.
	pkgLevel := func(id *ast.Ident) bool {
		if id.Obj != nil {
			return !local(id) && id.Obj.Kind != ast.Lbl
		}
		return pkg.names[id.Name]
	}
	at := func(p token.Pos) string { return fset.Position(p).String() }

	type rewrite struct {
		from, to int
		text     string
	}
	var rewrites []rewrite
	used := map[string]bool{}
	qualified := false
	var why string
	var visit func(n ast.Node) bool
	visitNode := func(n ast.Node) {
		if n != nil {
			ast.Inspect(n, visit)
		}
	}
	visit = func(n ast.Node) bool {
		if why != "" {
			return false
		}
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && id.Obj == nil && !pkg.names[id.Name] {
				if why = qualifierWhy(id, n.Sel.Name, imports, at(id.Pos())); why != "" {
					return false
				}
				if imports[id.Name] != nil {
					used[id.Name] = true
					return false
				}
			}
			visitNode(n.X)
			if why == "" && !ast.IsExported(n.Sel.Name) && !ownFields[n.Sel.Name] {
				why = fmt.Sprintf("%s: .%s is an unexported method or field, which a patch (another package) cannot reach; "+
					"the export shims cover package-level names only", at(n.Sel.Pos()), n.Sel.Name)
			}
			return false
		case *ast.CompositeLit:
			visitNode(n.Type)
			for _, el := range n.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				id, isIdent := (*ast.Ident)(nil), false
				if ok {
					id, isIdent = kv.Key.(*ast.Ident)
				}
				if !isIdent || exprKeys(n) {
					visitNode(el) // an element, or a key that is an expression
					continue
				}
				// A key that may be a field name: left as written
				// (a field, or a local of the patch's function too),
				// unless a patch cannot set it or the tool cannot
				// tell it from a package-level name.
				unexported := !ast.IsExported(id.Name) && !ownFields[id.Name] && types.Universe.Lookup(id.Name) == nil
				switch {
				case local(id) && unexported:
					why = fmt.Sprintf("%s: %s: may be an unexported field (the tool cannot tell it from the local %s), "+
						"which a patch (another package) cannot set", at(id.Pos()), id.Name, id.Name)
				case local(id):
				case pkgLevel(id):
					why = fmt.Sprintf("%s: %s is a key the tool cannot tell from a field name", at(id.Pos()), id.Name)
				case unexported:
					why = fmt.Sprintf("%s: %s: is an unexported field, which a patch (another package) cannot set", at(id.Pos()), id.Name)
				}
				if why != "" {
					return false
				}
				visitNode(kv.Value)
			}
			return false
		case *ast.KeyValueExpr:
			visitNode(n.Key) // in a literal whose keys are expressions
			visitNode(n.Value)
			return false
		case *ast.Field:
			visitNode(n.Type)
			return false
		case *ast.LabeledStmt:
			visitNode(n.Stmt)
			return false
		case *ast.BranchStmt:
			return false
		case *ast.Ident:
			if local(n) {
				return true
			}
			if !pkgLevel(n) {
				if n.Obj == nil && imports[n.Name] != nil {
					used[n.Name] = true
				}
				return true
			}
			if pkg.name == "main" {
				why = fmt.Sprintf("%s: uses %s of package main, which a plugin cannot import", at(n.Pos()), n.Name)
				return false
			}
			text := pkg.name + "." + n.Name
			if !ast.IsExported(n.Name) {
				r, no := shim.reachOf(n.Name, pkg.name)
				if no != "" {
					why = fmt.Sprintf("%s: uses %s, unexported in package %s: %s", at(n.Pos()), n.Name, pkg.name, no)
					return false
				}
				text = r
			}
			qualified = true
			rewrites = append(rewrites, rewrite{fset.Position(n.Pos()).Offset, fset.Position(n.End()).Offset, text})
		}
		return true
	}
	visitNode(fd.Type)
	visitNode(fd.Body)
	if why != "" {
		return nil, why
	}
	if qualified {
		if _, clash := imports[pkg.name]; clash {
			return nil, fmt.Sprintf("%s: the file imports a package named %s, like its own", f.rel, pkg.name)
		}
		if localNames(fd)[pkg.name] {
			return nil, fmt.Sprintf("%s: func %s declares a name %s, like its package's", f.rel, e.fn, pkg.name)
		}
	}
	sort.Slice(rewrites, func(i, j int) bool { return rewrites[i].from < rewrites[j].from })

	lineAt := func(off int) string {
		p := fset.File(file.Pos()).Position(fset.File(file.Pos()).Pos(off))
		return fmt.Sprintf("/*line %s:%d:%d*/", abs, p.Line, p.Column)
	}
	from, to := fset.Position(fd.Type.Pos()).Offset, fset.Position(fd.Body.End()).Offset
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hotpatch dev from %s; DO NOT EDIT.\n\npackage patch\n", f.rel)
	var lines []string
	for name := range used {
		is := imports[name]
		p, _ := strconv.Unquote(is.Path.Value)
		if is.Name != nil {
			lines = append(lines, is.Name.Name+" "+strconv.Quote(p))
		} else {
			lines = append(lines, strconv.Quote(p))
		}
	}
	if qualified {
		lines = append(lines, strconv.Quote(pkg.path))
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		b.WriteString("\nimport (\n")
		for _, l := range lines {
			b.WriteString("\t" + l + "\n")
		}
		b.WriteString(")\n")
	}
	// A //line comment above the directive (in the same comment group,
	// so that the directive still documents the func) puts the func on
	// its line of the module's file; it starts a line, as there.
	fp := fset.Position(fd.Type.Pos())
	fmt.Fprintf(&b, "\n//line %s:%d:1\n%s %s\n", abs, max(fp.Line-1, 1), slotDirective, e.slot)
	last := from
	for _, r := range rewrites {
		b.Write(f.src[last:r.from])
		b.WriteString(r.text)
		b.WriteString(lineAt(r.to))
		last = r.to
	}
	b.Write(f.src[last:to])
	b.WriteString("\n")
	return b.Bytes(), ""
}

// exprKeys says whether the keys of lit are expressions, as its type
// shows in the source: a map, array or slice literal. Elsewhere (a
// named type, a type left out) a key may be a field name.
func exprKeys(lit *ast.CompositeLit) bool {
	switch lit.Type.(type) {
	case *ast.MapType, *ast.ArrayType:
		return true
	}
	return false
}

// compileErrors returns the compiler's messages in out (a failed go
// build's output, the module's root made relative) when each names a
// position in one of the module's files (files): then the new body does
// not compile, whatever delivers it. Otherwise it returns "": the
// failure is the patch's, not the code's, and a baseline step may do.
// A message that the patch cannot refer to something unexported is the
// patch's too (it is another package; the tool let through a selector
// or key it took for the function's own). The shims' names in the
// messages are given back as the user wrote them.
func compileErrors(out string, files map[string][]byte) string {
	var msgs []string
	for _, line := range strings.Split(out, "\n") {
		line = shimRef.ReplaceAllString(line, "$1$2")
		switch {
		case line == "" || strings.HasPrefix(line, "# "):
			continue
		case strings.Contains(line, "cannot refer to unexported"):
			return ""
		case strings.HasPrefix(line, "\t") && len(msgs) > 0:
			msgs = append(msgs, line)
			continue
		}
		file, rest, ok := strings.Cut(strings.TrimPrefix(line, "./"), ":")
		if !ok || !strings.HasSuffix(file, ".go") || files[file] == nil || !startsWithDigit(rest) {
			return ""
		}
		msgs = append(msgs, strings.TrimPrefix(line, "./"))
	}
	return strings.Join(msgs, "\n")
}

// shimRef matches what a native patch writes for an unexported name of
// its package: (*P.HotpatchExportPtr_v) for a var, P.HotpatchExport_x
// for the rest.
var shimRef = regexp.MustCompile(`\(\*\w+\.` + shimPtr + `(\w+)\)|\b\w+\.` + shimName + `(\w+)`)

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// buildNative builds src, the native patch source for slot, against the
// running baseline, with its shims, and returns the .so, outside the
// patch directory. A build that fails on the compiler's errors in the
// module's files is a *devCompileError.
func (l *devLoop) buildNative(ctx context.Context, slot string, src []byte) (string, error) {
	if l.baseBin == "" {
		return "", errors.New("no baseline binary to build a native patch against")
	}
	if l.natives++; l.natives == 1 {
		l.out.status(colYellow, "building the first native patch of this run: when the build cache lacks them, "+
			"the dependencies are compiled again in plugin mode first, which can take a minute")
	}
	l.seq++
	dir := filepath.Join(l.tmp, "native")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("dev-%s-%d", safeName(slot), l.seq)
	source, out := filepath.Join(dir, name+".go"), filepath.Join(dir, name+".so")
	if err := os.WriteFile(source, src, 0o644); err != nil {
		return "", err
	}
	defer os.Remove(source)
	overlay, cleanup, err := l.writeOverlay(l.base, l.shims)
	if err != nil {
		return "", err
	}
	defer cleanup()
	err = l.guard(ctx, func(ctx context.Context) error {
		plan, err := patchbuild.Prepare(ctx, patchbuild.Options{Baseline: l.baseBin, Source: source, Output: out,
			Module: l.root, Go: l.goCmd, Overlay: overlay})
		if err != nil {
			return err
		}
		_, err = plan.Run(ctx)
		return err
	})
	if err != nil {
		msg := l.relPaths(err.Error(), overlay)
		if errors.Is(err, patchbuild.ErrGoBuild) {
			if _, output, ok := strings.Cut(msg, "\n"); ok {
				if ce := compileErrors(output, l.base); ce != "" {
					return "", &devCompileError{ce}
				}
			}
		}
		return "", fmt.Errorf("the native patch for %s did not build: %s", slot, msg)
	}
	return out, nil
}

// writeOverlay writes the overlay of a build for the baseline of snap:
// the shims added, and the tree kept as snap holds it (each Go file is
// replaced by snap's copy, a file snap does not hold is removed), so
// that a baseline and each of its patches see the same packages, byte
// for byte, whatever was saved since, or is saved while the build runs
// (an editor's save mid-build would otherwise get into the build, or
// fail its source record's check); cgo files too, which the go command
// compiles from the overlay as well. The files outside the main module
// (dev_extra.go) are left as the tree holds them: an edit of one is a
// baseline step anyway. cleanup removes the overlay's files.
func (l *devLoop) writeOverlay(snap map[string][]byte, shims *shimSet) (file string, cleanup func(), err error) {
	l.seq++
	dir := filepath.Join(l.tmp, fmt.Sprintf("overlay-%d", l.seq))
	cleanup = func() { os.RemoveAll(dir) }
	replace := map[string]string{}
	if shims != nil {
		maps.Copy(replace, shims.files)
	}
	disk := l.read(l.scan())
	for rel, b := range snap {
		if !l.mainGo(rel) {
			continue
		}
		f := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return "", cleanup, err
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return "", cleanup, err
		}
		replace[filepath.Join(l.root, filepath.FromSlash(rel))] = f
	}
	for rel := range disk {
		if _, ok := snap[rel]; !ok && l.mainGo(rel) {
			replace[filepath.Join(l.root, filepath.FromSlash(rel))] = ""
		}
	}
	b, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", cleanup, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cleanup, err
	}
	file = filepath.Join(dir, "overlay.json")
	return file, cleanup, os.WriteFile(file, b, 0o644)
}
