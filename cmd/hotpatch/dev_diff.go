package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// This file holds the decision of "hotpatch dev": which edits can be
// applied as a script and which need a baseline step. It reads the source
// only (go/ast and go/scanner); the server's loader and, on the baseline
// step, the go command are the type checkers.
//
// The rule: a file is cut into its top-level declarations; every token of
// a declaration counts (comments do not, except //go: and //hotpatch:
// directives), but the body of a function marked //hotpatch:slot NAME is
// compared on its own. An edit is hot when only such bodies differ from
// the running baseline's source, and each new body reaches nothing of its
// package but exported names of a package other than main.

// slotDirective marks, in the application's source, the function that
// backs a slot: "//hotpatch:slot NAME" in its doc comment. Register does
// not read it; hotpatch dev does.
const slotDirective = "//hotpatch:slot"

// srcFile is one parsed Go file of the module.
type srcFile struct {
	rel  string // module-relative, with slashes
	src  []byte
	fset *token.FileSet
	file *ast.File
}

// parseSrc parses src; the error is a scanner.ErrorList with positions
// named after rel.
func parseSrc(rel string, src []byte) (*srcFile, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	return &srcFile{rel: rel, src: src, fset: fset, file: f}, nil
}

// slotOf returns the slot name fd's doc comment declares, if any. A
// method is never a slot's function here: a script cannot declare one.
func slotOf(fd *ast.FuncDecl) string {
	if fd.Doc == nil || fd.Recv != nil || fd.Body == nil {
		return ""
	}
	for _, c := range fd.Doc.List {
		if rest, ok := strings.CutPrefix(c.Text, slotDirective+" "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// notSlotWhy says why fd, a function whose doc comment mentions the slot
// directive, is not a slot's function here, or "" when it mentions none:
// an edit of its body is then a baseline step, which the user expected
// hot.
func notSlotWhy(fd *ast.FuncDecl) string {
	if fd == nil || fd.Doc == nil || slotOf(fd) != "" {
		return ""
	}
	for _, c := range fd.Doc.List {
		if !strings.Contains(c.Text, "hotpatch:slot") {
			continue
		}
		switch {
		case fd.Recv != nil && strings.HasPrefix(c.Text, slotDirective+" "):
			return "a method's body is not hot: " + slotDirective + " is read above plain functions only " +
				"(register a function that takes the receiver as its first argument, and mark that one)"
		case fd.Body == nil:
			return ""
		default:
			return fmt.Sprintf("%q is not the directive: write %q at the start of a line of its doc comment, with no space after //", c.Text, slotDirective+" NAME")
		}
	}
	return ""
}

// decl is a top-level declaration reduced to what decides the rule.
type decl struct {
	key  string   // "func Greet", "type Book", "imports", ...; "#2" on for a repeated one
	name string   // key without the "#2"
	toks []string // its tokens, without the body of a slot function
	slot string   // for a slot function: the slot
	body []string // for a slot function: the tokens of its body
	fd   *ast.FuncDecl
}

// decls cuts f into its declarations, in order.
func (f *srcFile) decls() []decl {
	tf := f.fset.File(f.file.Pos())
	off := func(p token.Pos) int { return tf.Offset(p) }
	toks := func(from, to int) []string { return tokens(f.src[from:to]) }
	var out []decl
	out = append(out, decl{key: "package clause", toks: toks(off(f.file.Package), off(f.file.Name.End()))})
	for _, d := range f.file.Decls {
		from, to := off(d.Pos()), off(d.End())
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Doc != nil {
				from = off(d.Doc.Pos())
			}
			k := decl{key: "func " + funcName(d), fd: d}
			if k.slot = slotOf(d); k.slot != "" {
				b0, b1 := off(d.Body.Lbrace), off(d.Body.Rbrace)+1
				k.toks = append(toks(from, b0), toks(b1, to)...)
				k.body = toks(b0, b1)
			} else {
				k.toks = toks(from, to)
			}
			out = append(out, k)
		case *ast.GenDecl:
			if d.Doc != nil {
				from = off(d.Doc.Pos())
			}
			out = append(out, decl{key: genKey(d), toks: toks(from, to)})
		}
	}
	// Keys repeat (two init funcs, "var _ I = (*T)(nil)" lines, import
	// "C" beside the import block): the n-th of a key is compared with
	// the n-th.
	seen := map[string]int{}
	for i := range out {
		d := &out[i]
		d.name = d.key
		if seen[d.key]++; seen[d.key] > 1 {
			d.key += fmt.Sprintf(" #%d", seen[d.key])
		}
	}
	return out
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return "(" + x.Name + ")." + fd.Name.Name
		}
		return fd.Name.Name
	}
}

func genKey(d *ast.GenDecl) string {
	var names []string
	for _, s := range d.Specs {
		switch s := s.(type) {
		case *ast.ImportSpec:
			return "imports"
		case *ast.TypeSpec:
			names = append(names, s.Name.Name)
		case *ast.ValueSpec:
			for _, n := range s.Names {
				names = append(names, n.Name)
			}
		}
	}
	return d.Tok.String() + " " + strings.Join(names, ", ")
}

// tokens is src's tokens as text: whitespace and comments dropped, but
// the directives (//go:, //hotpatch:) kept, as they change the build or
// the slots. An inserted semicolon and a written one are the same token.
func tokens(src []byte) []string {
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", -1, len(src)), src, func(token.Position, string) {}, scanner.ScanComments)
	var out []string
	for {
		_, tok, lit := s.Scan()
		switch {
		case tok == token.EOF:
			return out
		case tok == token.COMMENT:
			if strings.HasPrefix(lit, "//go:") || strings.HasPrefix(lit, "//hotpatch:") {
				out = append(out, lit)
			}
		case tok == token.SEMICOLON:
			out = append(out, ";")
		case lit != "":
			out = append(out, lit)
		default:
			// "{ return 1 }" and "{\n\treturn 1\n}" differ by a
			// semicolon the scanner inserts only in the second.
			if (tok == token.RBRACE || tok == token.RPAREN) && len(out) > 0 && out[len(out)-1] == ";" {
				out = out[:len(out)-1]
			}
			out = append(out, tok.String())
		}
	}
}

// hotEdit is a slot function whose body changed.
type hotEdit struct {
	slot string
	fn   string // the function's name
	file *srcFile
	fd   *ast.FuncDecl
}

// compareFile compares a file of the running baseline with its new
// content. It returns the slot functions whose body changed, or the
// reason the change needs a baseline step.
func compareFile(old, cur *srcFile) (edits []hotEdit, reason string) {
	// The imports are compared as a set, below: goimports regroups
	// them, adds the one a slot body starts to use, drops the one it
	// stopped using.
	notImports := func(d decl) bool { return d.name == "imports" }
	od, nd := slices.DeleteFunc(old.decls(), notImports), slices.DeleteFunc(cur.decls(), notImports)
	byKey := func(ds []decl) map[string]decl {
		m := make(map[string]decl, len(ds))
		for _, d := range ds {
			m[d.key] = d
		}
		return m
	}
	om, nm := byKey(od), byKey(nd)
	for _, d := range nd {
		o, ok := om[d.key]
		switch {
		case !ok:
			return nil, fmt.Sprintf("%s: new %s", cur.rel, d.name)
		case !slices.Equal(o.toks, d.toks):
			what := "changed"
			if o.slot != "" || d.slot != "" {
				what = "changed outside its body (signature, doc directive)"
			} else if why := notSlotWhy(d.fd); why != "" {
				what += "; " + why
			}
			return nil, fmt.Sprintf("%s: %s %s", cur.rel, d.name, what)
		case d.slot != "" && !slices.Equal(o.body, d.body):
			edits = append(edits, hotEdit{slot: d.slot, fn: d.fd.Name.Name, file: cur, fd: d.fd})
		}
	}
	for _, d := range od {
		if _, ok := nm[d.key]; !ok {
			return nil, fmt.Sprintf("%s: %s removed", cur.rel, d.name)
		}
	}
	// Same declarations in another order: the order of var
	// initialisation and of init funcs may differ.
	if !slices.EqualFunc(od, nd, func(a, b decl) bool { return a.key == b.key }) {
		return nil, fmt.Sprintf("%s: declarations reordered", cur.rel)
	}
	if why := compareImports(old, cur, edits); why != "" {
		return nil, why
	}
	return edits, ""
}

// compareImports says why the imports of cur, a new version of old, need
// a baseline step, or "" when they do not: the same set, give or take an
// import that a changed slot body uses and that the script imports
// itself, and an import nothing in cur uses any more (the baseline keeps
// it). The C code of a cgo preamble counts in full.
func compareImports(old, cur *srcFile, edits []hotEdit) string {
	set := func(f *srcFile) (map[string]*ast.ImportSpec, string) {
		m := map[string]*ast.ImportSpec{}
		var preamble strings.Builder
		for _, d := range f.file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.IMPORT {
				continue
			}
			for _, sp := range g.Specs {
				is := sp.(*ast.ImportSpec)
				p, _ := strconv.Unquote(is.Path.Value)
				name := importName(p)
				if is.Name != nil {
					name = is.Name.Name
				}
				m[name+" "+p] = is
				if p == "C" && g.Doc != nil {
					tf := f.fset.File(f.file.Pos())
					preamble.Write(f.src[tf.Offset(g.Doc.Pos()):tf.Offset(g.Doc.End())])
				}
			}
		}
		return m, preamble.String()
	}
	om, opre := set(old)
	nm, npre := set(cur)
	if opre != npre {
		return fmt.Sprintf("%s: the cgo preamble changed", cur.rel)
	}
	// The names used as NAME.X in a region of cur.
	qualifiers := func(n ast.Node) map[string]bool {
		used := map[string]bool{}
		ast.Inspect(n, func(n ast.Node) bool {
			if se, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := se.X.(*ast.Ident); ok {
					used[id.Name] = true
				}
			}
			return true
		})
		return used
	}
	inSlots := map[string]bool{}
	for _, e := range edits {
		if e.file == cur {
			for n := range qualifiers(e.fd.Body) {
				inSlots[n] = true
			}
		}
	}
	inFile := qualifiers(cur.file)
	for key, is := range nm {
		if _, ok := om[key]; ok {
			continue
		}
		name, p, _ := strings.Cut(key, " ")
		if p == "C" || name == "_" || name == "." || !inSlots[name] {
			return fmt.Sprintf("%s: imports changed (%s added, not for a changed slot body)", cur.rel, is.Path.Value)
		}
	}
	for key, is := range om {
		if _, ok := nm[key]; ok {
			continue
		}
		name, p, _ := strings.Cut(key, " ")
		if p == "C" || name == "_" || name == "." || inFile[name] {
			return fmt.Sprintf("%s: imports changed (%s removed)", cur.rel, is.Path.Value)
		}
	}
	return ""
}

// pkgInfo is what a script needs to know of the package of a slot
// function.
type pkgInfo struct {
	name  string          // the package's name
	path  string          // its import path
	names map[string]bool // its package-level names
	dir   string          // its directory, absolute ("": the files' names are module-relative)
}

// collectNames adds f's package-level names to names.
func collectNames(f *ast.File, names map[string]bool) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name != "_" {
				names[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.Name != "_" {
						names[s.Name.Name] = true
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.Name != "_" { // a blank name names nothing
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
}

// script writes the script patch for e: package patch, the imports its
// function uses, the directive, the function with its new body, the
// package's own names qualified. It returns why it cannot when the body
// reaches what a script cannot.
func script(e hotEdit, pkg pkgInfo) (src []byte, reason string) {
	f := e.file
	imports := map[string]*ast.ImportSpec{} // by the name the file uses
	for _, is := range f.file.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		name := importName(p)
		if is.Name != nil {
			name = is.Name.Name
		}
		if name == "." || name == "_" {
			if name == "." {
				return nil, fmt.Sprintf("%s imports %s with a dot: a script cannot", f.rel, p)
			}
			continue
		}
		imports[name] = is
	}
	locals := localNames(e.fd)
	used := map[string]bool{} // import names used
	var qualify []token.Pos   // idents to prefix with the package's name
	var why string
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		if why != "" {
			return false
		}
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && !locals[id.Name] && !pkg.names[id.Name] {
				if why = qualifierWhy(id, n.Sel.Name, imports, f.fset.Position(id.Pos()).String()); why != "" {
					return false
				}
			}
			ast.Inspect(n.X, visit)
			return false
		case *ast.CompositeLit:
			if exprKeys(n) { // keys are expressions
				ast.Inspect(n.Type, visit)
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						ast.Inspect(kv.Key, visit)
						ast.Inspect(kv.Value, visit)
					} else {
						ast.Inspect(el, visit)
					}
				}
				return false
			}
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok && !locals[id.Name] {
				if pkg.names[id.Name] {
					why = fmt.Sprintf("%s: %s is a key the tool cannot tell from a field name", f.fset.Position(id.Pos()), id.Name)
					return false
				}
				ast.Inspect(n.Value, visit)
				return false
			}
		case *ast.Field:
			if n.Type != nil {
				ast.Inspect(n.Type, visit)
			}
			return false
		case *ast.LabeledStmt:
			ast.Inspect(n.Stmt, visit)
			return false
		case *ast.BranchStmt:
			return false
		case *ast.Ident:
			switch {
			case locals[n.Name]:
			case pkg.names[n.Name]:
				switch {
				case pkg.name == "main":
					why = fmt.Sprintf("%s: uses %s of package main, which a script cannot import", f.fset.Position(n.Pos()), n.Name)
				case !ast.IsExported(n.Name):
					why = fmt.Sprintf("%s: uses %s, unexported in package %s, which a script cannot reach", f.fset.Position(n.Pos()), n.Name, pkg.name)
				default:
					qualify = append(qualify, n.Pos())
				}
			case imports[n.Name] != nil:
				used[n.Name] = true
			}
		}
		return true
	}
	for _, n := range []ast.Node{e.fd.Type, e.fd.Body} {
		ast.Inspect(n, visit)
	}
	if why != "" {
		return nil, why
	}
	tf := f.fset.File(f.file.Pos())
	from, to := tf.Offset(e.fd.Type.Pos()), tf.Offset(e.fd.Body.End())
	var body bytes.Buffer
	last := from
	// Line directives keep the interpreter's positions (a type
	// error, a panic's) on the module's file, module-relative, as the
	// output gives them: the function on its lines, a qualified name
	// and each import at its own place (the package's own import at
	// its first use).
	// The file's name is absolute: a relative one is taken relative
	// to the script's directory.
	file := f.rel
	if pkg.dir != "" {
		file = filepath.Join(pkg.dir, path.Base(f.rel))
	}
	lineAt := func(p token.Pos, block bool) string {
		pos := f.fset.Position(p)
		switch {
		case block:
			return fmt.Sprintf("/*line %s:%d:%d*/", file, pos.Line, pos.Column)
		case pos.Column > 1: // the line's tab, then what is there
			return fmt.Sprintf("//line %s:%d:%d\n\t", file, pos.Line, pos.Column-1)
		}
		return fmt.Sprintf("//line %s:%d:1\n", file, pos.Line)
	}
	for _, p := range qualify {
		o := tf.Offset(p)
		body.Write(f.src[last:o])
		body.WriteString(pkg.name + "." + lineAt(p, true))
		last = o
	}
	body.Write(f.src[last:to])

	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by hotpatch dev from %s; DO NOT EDIT.\n\npackage patch\n", f.rel)
	type importLine struct{ path, text string }
	var lines []importLine
	for name := range used {
		is := imports[name]
		p, _ := strconv.Unquote(is.Path.Value)
		text := strconv.Quote(p)
		if is.Name != nil {
			text = is.Name.Name + " " + text
		}
		lines = append(lines, importLine{p, lineAt(is.Pos(), false) + text})
	}
	if len(qualify) > 0 {
		if _, clash := imports[pkg.name]; clash {
			return nil, fmt.Sprintf("%s: the file imports a package named %s, like its own", f.rel, pkg.name)
		}
		lines = append(lines, importLine{pkg.path, lineAt(qualify[0], false) + strconv.Quote(pkg.path)})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].path < lines[j].path })
	if len(lines) > 0 {
		b.WriteString("\nimport (\n")
		for _, l := range lines {
			b.WriteString(l.text + "\n")
		}
		b.WriteString(")\n")
	}
	fp := f.fset.Position(e.fd.Type.Pos())
	fmt.Fprintf(&b, "\n//line %s:%d:1\n%s %s\n", file, max(fp.Line-1, 1), slotDirective, e.slot)
	b.Write(body.Bytes())
	b.WriteString("\n")
	return b.Bytes(), ""
}

// importName is the name a package is known by when imported without
// one, as goimports assumes it (and names the import when the package's
// name differs): the last element of its path, a major version suffix
// skipped, a "go-" prefix dropped, cut at the first character that
// cannot be in a name. A package whose name differs from that and is
// imported without a name is not recognised (qualifierWhy refuses it).
func importName(p string) string {
	base := path.Base(p)
	if len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" {
		if dir := path.Dir(p); dir != "." {
			base = path.Base(dir)
		}
	}
	base = strings.TrimPrefix(base, "go-")
	if i := strings.IndexFunc(base, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	}); i > 0 {
		base = base[:i]
	}
	return base
}

// qualifierWhy says why a patch cannot be written for X.sel, X (id) a
// name that is neither declared in the function nor a package-level name
// of its package: a cgo name (C.x needs the file's preamble, which a
// patch does not have), or a name no import of the file is known by (a
// package whose name is not its path's last element, imported without a
// name): dropping it would make the patch fail to compile on code that
// compiles. pos is id's position.
func qualifierWhy(id *ast.Ident, sel string, imports map[string]*ast.ImportSpec, pos string) string {
	if is := imports[id.Name]; is != nil {
		if is.Path.Value == `"C"` {
			return fmt.Sprintf("%s: uses C.%s, of the file's cgo preamble, which a patch (another file) does not have", pos, sel)
		}
		return ""
	}
	if types.Universe.Lookup(id.Name) != nil {
		return "" // error.Error, a method expression
	}
	return fmt.Sprintf("%s: uses %s.%s, and no import of the file is known by the name %s: "+
		"name the import (%s \"path\") for a hot patch", pos, id.Name, sel, id.Name, id.Name)
}

// localNames is every name fd declares inside itself: parameters,
// results, and the variables, constants, types and functions of its body.
// A name declared in any block counts everywhere in fd: a reference the
// tool then leaves unqualified, where it meant the package's, makes the
// script fail to compile, and the edit takes the baseline step.
func localNames(fd *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	addFields := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				names[n.Name] = true
			}
		}
	}
	addFields(fd.Type.Params)
	addFields(fd.Type.Results)
	addFields(fd.Type.TypeParams)
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE {
				for _, x := range []ast.Expr{n.Key, n.Value} {
					if id, ok := x.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				names[id.Name] = true
			}
		case *ast.TypeSpec:
			names[n.Name.Name] = true
		case *ast.FuncLit:
			addFields(n.Type.Params)
			addFields(n.Type.Results)
		case *ast.TypeSwitchStmt:
			if a, ok := n.Assign.(*ast.AssignStmt); ok {
				for _, l := range a.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		}
		return true
	})
	return names
}
