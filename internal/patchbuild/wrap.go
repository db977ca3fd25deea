package patchbuild

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/token"
	"maps"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/loader"
)

// The typed wrappers.
//
// Each implementation a native patch hands out goes through a wrapper of
// its exact func type, generated here and compiled into the plugin, that
// defers a recover, hands the value to a report func the loader gives, and
// panics again with the same value. A direct call through a func value
// plus an open-coded defer costs a few nanoseconds and allocates nothing,
// where a reflect.MakeFunc wrapper built by the loader costs hundreds of
// nanoseconds and allocations per call.
//
// The wrappers are written from the syntax of the funcs' declarations,
// without type checking: they are appended to the patch's own file (after
// a //line directive naming the generated code), so every type expression
// of a signature means there what it means in the declaration, whatever
// the file imports and under which names. Each wrapper goes through
// hotpatchWrapped(impl, wrapper), which does not compile unless both have
// one type: the slot table the loader checks and the wrapped table agree
// by construction. Generated names start with "hotpatch"; a patch's own
// names do not (Prepare refuses them).

// wrapPrefix starts every name the generated code declares in the patch's
// package, so that none collides with the patch's own.
const wrapPrefix = "hotpatch"

// wrapLine is the file name the //line directive gives the generated part
// of patch.go, so that a compiler message about it does not point into the
// patch's own lines.
const wrapLine = "hotpatch-generated-wrappers.go"

// helpersLine is the file name the //line directive gives the helpers in
// the generated file (hotpatchRecover, in the stack of every panic that
// leaves a patch).
const helpersLine = "hotpatch-generated-helpers.go"

// wrappers returns the source of HotpatchWrap, to be appended to the
// patch's file, and the names of the redirects whose replacement it cannot
// wrap (not the name of a func declared in the patch): their panics are
// not reported.
func wrappers(s *loader.Source, funcs map[string]string, redirects []redirectEntry) ([]byte, []string, error) {
	decls := make(map[string]*ast.FuncDecl)
	for _, d := range s.AST.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Type.TypeParams == nil {
			decls[fd.Name.Name] = fd
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n//line %s:1\n", wrapLine)
	fmt.Fprintf(&b, "// %s returns the slot table and the redirect replacements, each in a\n"+
		"// wrapper that reports a panic before it goes on.\n", manifest.SymbolWrap)
	fmt.Fprintf(&b, "func %s(%sSlot, %sRedirect func(string, any)) (map[string]any, map[string]any) {\n",
		manifest.SymbolWrap, wrapPrefix, wrapPrefix)
	b.WriteString("\treturn map[string]any{\n")
	for _, slot := range slices.Sorted(maps.Keys(funcs)) {
		fd := decls[funcs[slot]]
		if fd == nil {
			return nil, nil, fmt.Errorf("%w: slot %s: func %s is not a plain top-level func of the patch", ErrSource, slot, funcs[slot])
		}
		fmt.Fprintf(&b, "\t\t%q: %s,\n", slot, wrapper(s.FileSet, fd, wrapPrefix+"Slot", slot))
	}
	b.WriteString("\t}, map[string]any{\n")
	var unwrapped []string
	for _, r := range redirects {
		fd := decls[r.replacement]
		if fd == nil {
			unwrapped = append(unwrapped, r.name)
			continue
		}
		fmt.Fprintf(&b, "\t\t%q: %s,\n", r.name, wrapper(s.FileSet, fd, wrapPrefix+"Redirect", r.name))
	}
	b.WriteString("\t}\n}\n")
	return b.Bytes(), unwrapped, nil
}

// wrapper returns the expression of fd's wrapper, reporting through the
// func named report under name.
func wrapper(fset *token.FileSet, fd *ast.FuncDecl, report, name string) string {
	var params, args, results []string
	ft := fd.Type
	for _, f := range ft.Params.List {
		typ := exprString(fset, f.Type)
		_, variadic := f.Type.(*ast.Ellipsis)
		for range max(1, len(f.Names)) {
			p := fmt.Sprintf("%sA%d", wrapPrefix, len(params))
			params = append(params, p+" "+typ)
			if variadic {
				p += "..."
			}
			args = append(args, p)
		}
	}
	if ft.Results != nil {
		for _, f := range ft.Results.List {
			typ := exprString(fset, f.Type)
			for range max(1, len(f.Names)) {
				results = append(results, typ)
			}
		}
	}
	var named []string
	for i, r := range results {
		named = append(named, fmt.Sprintf("%sR%d", wrapPrefix, i))
		results[i] = named[i] + " " + r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%sWrapped(%s, func(%s) ", wrapPrefix, fd.Name.Name, strings.Join(params, ", "))
	if len(results) > 0 {
		fmt.Fprintf(&b, "(%s) ", strings.Join(results, ", "))
	}
	fmt.Fprintf(&b, "{\n\t\t\t%[1]sReturned := false\n\t\t\tdefer %[1]sRecover(%[2]s, %[3]q, &%[1]sReturned)\n\t\t\t", wrapPrefix, report, name)
	if len(results) > 0 {
		fmt.Fprintf(&b, "%s = ", strings.Join(named, ", "))
	}
	fmt.Fprintf(&b, "%s(%s)\n\t\t\t%sReturned = true\n", fd.Name.Name, strings.Join(args, ", "), wrapPrefix)
	if len(results) > 0 {
		b.WriteString("\t\t\treturn\n")
	}
	b.WriteString("\t\t})")
	return b.String()
}

// wrapHelpers is the part of the generated file the wrappers call. It
// imports only runtime, which every binary links (a plugin may link only
// what its baseline links), under a name of the generated code's.
const wrapHelpers = `
// hotpatchWrapped returns wrapper; it compiles only if impl and wrapper
// have one type.
func hotpatchWrapped[F any](impl, wrapper F) F { return wrapper }

// hotpatchRecover, deferred by a wrapper, hands a panic's value to report
// and panics again with it. recover returns nil for runtime.Goexit, which
// goes on, and, with GODEBUG=panicnil=1, for panic(nil), which it stops:
// a call that did not return (*returned is false) is told apart by who
// runs the deferred call, the runtime's panic or its Goexit.
func hotpatchRecover(report func(string, any), name string, returned *bool) {
	v := recover()
	if v == nil && (*returned || !hotpatchPanicking()) {
		return
	}
	report(name, v)
	panic(v)
}

// hotpatchPanicking reports whether the deferred call that calls it runs
// because of a panic, not runtime.Goexit.
func hotpatchPanicking() bool {
	var pcs [8]uintptr
	frames := hotpatchRuntime.CallersFrames(pcs[:hotpatchRuntime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		switch f.Function {
		case "runtime.gopanic":
			return true
		case "runtime.Goexit":
			return false
		}
		if !more {
			return false
		}
	}
}
`

// ownNames returns the names the patch declares at top level, or gives
// its imports, that the generated code reserves: an import so named would
// collide with a generated func, or be shadowed by a generated param in
// the wrappers' signatures.
func ownNames(s *loader.Source) []string {
	var out []string
	add := func(id *ast.Ident) {
		if id != nil && (strings.HasPrefix(id.Name, wrapPrefix) || id.Name == manifest.SymbolWrap) {
			out = append(out, fmt.Sprintf("%s (%s)", id.Name, s.FileSet.Position(id.Pos())))
		}
	}
	for _, imp := range s.AST.Imports {
		add(imp.Name)
	}
	for _, d := range s.AST.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				add(d.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.ValueSpec:
					for _, n := range spec.Names {
						add(n)
					}
				case *ast.TypeSpec:
					add(spec.Name)
				}
			}
		}
	}
	return out
}
