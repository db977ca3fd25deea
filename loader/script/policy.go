package script

import (
	"fmt"
	"go/ast"
	"go/token"
	"io"
	"maps"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/hotpatch-go/hotpatch/loader"
)

// pkg is one package a script may import: its key in an interp.Exports and
// its symbols.
type pkg struct {
	key  string
	syms map[string]reflect.Value
	std  bool
}

// policy decides which imports a script may use and builds the symbol table
// of each interpreter. It is immutable after newPolicy.
type policy struct {
	pkgs    map[string]pkg                   // by import path: the standard library, then the host's
	allow   []string                         // nil: every package in pkgs
	deny    []string                         // import paths and subtrees
	members map[string][]string              // denied members by import path
	types   map[reflect.Value][]reflect.Type // stdlib's special interface mappings
}

// yaegiSelf is the import path prefix of yaegi's own packages. Its stdlib
// table exports itself (a mutable package-level map), which no script must
// reach.
const yaegiSelf = "github.com/traefik/yaegi"

func newPolicy(host interp.Exports, allow, deny []string) *policy {
	p := &policy{pkgs: make(map[string]pkg), allow: allow, members: make(map[string][]string)}
	for _, d := range deny {
		if ip, name, ok := splitMember(d); ok {
			p.members[ip] = append(p.members[ip], name)
		} else {
			p.deny = append(p.deny, d)
		}
	}
	for k, syms := range stdlib.Symbols {
		if k == "." {
			p.types, _ = syms["MapTypes"].Interface().(map[reflect.Value][]reflect.Type)
			continue
		}
		ip := path.Dir(k)
		if ip == yaegiSelf || strings.HasPrefix(ip, yaegiSelf+"/") {
			continue
		}
		p.pkgs[ip] = pkg{key: k, syms: syms, std: true}
	}
	for k, syms := range host {
		ip := path.Dir(k)
		if ip == "." || ip == yaegiSelf || strings.HasPrefix(ip, yaegiSelf+"/") {
			continue // unrestricted.Symbols, say, exports its own mutable table
		}
		if std, ok := p.pkgs[ip]; ok && std.std {
			// Symbols for a standard package add to it (yaegi's own
			// stdlib/unrestricted has only the members stdlib leaves out).
			merged := maps.Clone(std.syms)
			maps.Copy(merged, syms)
			p.pkgs[ip] = pkg{key: std.key, syms: merged, std: true}
			continue
		}
		p.pkgs[ip] = pkg{key: k, syms: syms}
	}
	return p
}

// splitMember splits a deny entry naming a package member,
// "importpath.Name" (Name exported), into its parts.
func splitMember(d string) (ip, name string, ok bool) {
	dot := strings.LastIndexByte(d, '.')
	if dot <= strings.LastIndexByte(d, '/') || dot == len(d)-1 {
		return "", "", false
	}
	ip, name = d[:dot], d[dot+1:]
	if !token.IsExported(name) || !token.IsIdentifier(name) {
		return "", "", false
	}
	return ip, name, true
}

// match reports whether import path ip matches one of patterns.
func match(patterns []string, ip string) bool {
	for _, pat := range patterns {
		switch {
		case pat == "...":
			return true
		case strings.HasSuffix(pat, "/..."):
			if base := strings.TrimSuffix(pat, "/..."); ip == base || strings.HasPrefix(ip, base+"/") {
				return true
			}
		case pat == ip:
			return true
		}
	}
	return false
}

// check returns an error at each import of s that the policy refuses or
// that has no symbols.
func (p *policy) check(s *loader.Source) error {
	var errs []error
	for _, imp := range s.AST.Imports {
		ip, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue // Parse has checked every import path
		}
		where := s.FileSet.Position(imp.Path.Pos())
		_, known := p.pkgs[ip]
		switch {
		case match(p.deny, ip) || p.allow != nil && !match(p.allow, ip):
			errs = append(errs, &loader.Error{Pos: where, Err: fmt.Errorf("%w: %q", ErrImportRefused, ip)})
		case !known:
			errs = append(errs, &loader.Error{Pos: where, Err: fmt.Errorf("%w: %q is neither in the standard library symbols nor in the host symbols (Options.Symbols)", ErrNoSuchImport, ip)})
		}
	}
	errs = append(errs, p.checkMembers(s)...)
	slices.SortStableFunc(errs, func(a, b error) int { return posOf(a).Line - posOf(b).Line })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joinErrors(errs)
}

// checkMembers returns an error at each use of a denied package member,
// as pkg.Member. The members are also left out of the interpreter's
// symbols, which is what enforces the refusal (a dot import, say, is not
// seen here but finds no symbol).
func (p *policy) checkMembers(s *loader.Source) []error {
	names := map[string]string{} // the file's name for each import with denied members
	for _, imp := range s.AST.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if len(p.members[ip]) == 0 {
			continue
		}
		name := path.Base(p.pkgs[ip].key)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = ip
	}
	if len(names) == 0 {
		return nil
	}
	var errs []error
	ast.Inspect(s.AST, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		if ip, ok := names[x.Name]; ok && slices.Contains(p.members[ip], sel.Sel.Name) {
			errs = append(errs, &loader.Error{Pos: s.FileSet.Position(sel.Pos()),
				Err: fmt.Errorf("%w: %s.%s (member %q of the deny list)", ErrImportRefused, x.Name, sel.Sel.Name, ip+"."+sel.Sel.Name)})
		}
		return true
	})
	return errs
}

// posOf returns the position of a *loader.Error.
func posOf(err error) token.Position {
	if e, ok := err.(*loader.Error); ok {
		return e.Pos
	}
	return token.Position{}
}

// generic are the packages whose generic funcs yaegi provides as source,
// compiled by Use into each interpreter that needs them.
var generic = [...]string{"cmp", "maps", "slices"}

// exports returns the symbol table for an interpreter that runs a script
// with the given imports, which the policy has allowed. It holds only those
// packages: a fresh interpreter then costs tens of microseconds and a few
// kilobytes rather than milliseconds and megabytes for the whole standard
// library. The script cannot tell the difference, since it can only reach
// what it imports.
//
// yaegi's Use compiles its generic cmp, maps and slices sources (3 ms and
// 1.2 MB per interpreter) whenever the table has the key "fmt/fmt", and
// only then gives the interpreter its own stdio, logger, flag set and
// environment. So fmt goes in under that key only when the script imports
// one of those packages; otherwise it goes in as "fmt//fmt", which Use reads
// as the same import path and name, and [sandbox] does the rest.
func (p *policy) exports(imports []string, stdout, stderr io.Writer, b *box) interp.Exports {
	e := make(interp.Exports, len(imports)+2)
	std, gen := false, false
	stdKeys := map[string]bool{}
	for _, ip := range imports {
		pk := p.pkgs[ip]
		syms := pk.syms
		if denied := p.members[ip]; len(denied) > 0 {
			syms = maps.Clone(syms)
			for _, name := range denied {
				delete(syms, name)
			}
		}
		e[pk.key] = syms
		stdKeys[pk.key] = pk.std
		std = std || pk.std
		gen = gen || pk.std && slices.Contains(generic[:], ip)
	}
	if !std {
		return e
	}
	if f, ok := p.pkgs["fmt"]; ok && f.std && f.key == "fmt/fmt" {
		if gen {
			e["fmt/fmt"] = f.syms
		} else if syms, imported := e["fmt/fmt"]; imported {
			delete(e, "fmt/fmt")
			e["fmt//fmt"] = syms
			stdKeys["fmt//fmt"] = true
		}
	}
	types := maps.Clone(p.types)
	sandbox(e, stdKeys, types, stdout, stderr, b)
	e["."] = map[string]reflect.Value{"MapTypes": reflect.ValueOf(types)}
	return e
}
