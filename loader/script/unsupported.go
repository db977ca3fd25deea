package script

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/loader"
)

// unsupported finds the constructs of newer Go that yaegi v0.16.1 cannot
// run, so the user gets an error at the right line instead of an
// interpreter panic without one ("nil type" for range over an integer or a
// func) or a bare "undefined: min".
//
// It type-checks the script against empty stand-ins for its imports: what
// depends on an import stays untyped and unflagged, so this finds the usual
// cases (range over a literal, a parameter, len(x)) and never flags correct
// code. What it misses still fails later, in the interpreter.
func unsupported(s *loader.Source) error {
	if err := tooDeep(s); err != nil {
		return err // the type checker would take its time over it too
	}
	var errs []error
	info := &types.Info{Types: make(map[ast.Expr]types.TypeAndValue), Uses: make(map[*ast.Ident]types.Object)}
	conf := types.Config{
		Importer: emptyImporter{},
		// The interpreter reports real errors, with its own wording; but
		// it computes constants without Go's limits: 1 << 100000000 would
		// keep it busy for minutes, uninterruptibly, and 1 << 1000000
		// comes back as an error message with all 301,030 of its digits.
		Error: func(err error) {
			if te, ok := err.(types.Error); ok && constantTooLarge(te.Msg) {
				errs = append(errs, &loader.Error{Pos: s.FileSet.Position(te.Pos), Err: fmt.Errorf("%w: %s", ErrCompile, te.Msg)})
			}
		},
		DisableUnusedImportCheck: true,
	}
	pkg, _ := conf.Check(s.Package, s.FileSet, []*ast.File{s.AST}, info)

	fail := func(pos token.Pos, format string, args ...any) {
		errs = append(errs, &loader.Error{Pos: s.FileSet.Position(pos), Err: fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)})
	}
	ast.Inspect(s.AST, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt:
			t := info.TypeOf(n.X)
			if t == nil {
				break
			}
			switch u := t.Underlying().(type) {
			case *types.Basic:
				if u.Info()&types.IsInteger != 0 {
					fail(n.For, "range over an integer (Go 1.22); write for i := 0; i < n; i++")
				}
			case *types.Signature:
				fail(n.For, "range over a func (Go 1.23 iterators); call the func with a yield callback, or range over a slice")
			}
		case *ast.CallExpr:
			if t := errorsAsScriptTarget(pkg, info, n); t != nil {
				fail(n.Lparen, "errors.As into type %s, which the script declares: its methods stay in the interpreter, so to errors.As it does not implement error and the call panics (\"errors: *target must be interface or implement error\"); use a type assertion or a type switch on the error (and errors.Unwrap for a wrapped one)",
					types.TypeString(t, types.RelativeTo(pkg)))
			}
		case *ast.Ident:
			if b, ok := info.Uses[n].(*types.Builtin); ok {
				switch b.Name() {
				case "min", "max":
					fail(n.Pos(), "the %s builtin (Go 1.21); compare with if, or call a helper", b.Name())
				case "clear":
					fail(n.Pos(), "the clear builtin (Go 1.21); delete keys in a loop, or make a new map")
				}
			}
		}
		return true
	})
	slices.SortStableFunc(errs, func(a, b error) int { return posOf(a).Offset - posOf(b).Offset })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joinErrors(errs)
}

// errorsAsScriptTarget returns the type that call, a call of errors.As,
// would match the error against (what its target points to) when that is
// a type the script declares, a pointer to one, or an interface with
// methods written in the script; else nil. The interpreter builds such
// types without their methods for compiled code, so to errors.As the
// target neither implements error nor is an interface, and errors.As
// panics.
func errorsAsScriptTarget(pkg *types.Package, info *types.Info, call *ast.CallExpr) types.Type {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "As" || len(call.Args) != 2 {
		return nil
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok {
		return nil
	}
	if pn, ok := info.Uses[x].(*types.PkgName); !ok || pn.Imported().Path() != "errors" {
		return nil
	}
	ptr, ok := info.TypeOf(call.Args[1]).(*types.Pointer)
	if !ok {
		return nil
	}
	t := types.Unalias(ptr.Elem())
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	switch t := t.(type) {
	case *types.Named:
		if pkg == nil || t.Obj().Pkg() != pkg {
			return nil // predeclared (error) or compiled
		}
	case *types.Interface:
		if t.NumMethods() == 0 {
			return nil // any matches as in compiled code
		}
	default:
		return nil
	}
	return ptr.Elem()
}

// constantTooLarge reports whether a type checker's message says that a
// constant is out of Go's bounds, which the interpreter does not check.
func constantTooLarge(msg string) bool {
	return strings.Contains(msg, "invalid shift count") || strings.Contains(msg, "overflow")
}

// maxDepth is the deepest nesting of syntax a script may have. yaegi
// compiles nested expressions in time that grows with the square of their
// depth (a chain a+b+c+... of 10,000 terms takes a second, of the 500,000
// that fit in a megabyte most of an hour, on a CPU the loader cannot take
// back once the load has timed out, since compilation cannot be
// interrupted). Written code stays far below it.
const maxDepth = 1000

// tooDeep refuses a script whose syntax tree is deeper than maxDepth, at
// the node where it gets too deep.
func tooDeep(s *loader.Source) error {
	depth := 0
	var where ast.Node
	ast.Inspect(s.AST, func(n ast.Node) bool {
		if n == nil {
			depth--
			return false
		}
		depth++
		if depth > maxDepth {
			where = n
			depth-- // its children are not visited, nor is its nil
			return false
		}
		return where == nil
	})
	if where == nil {
		return nil
	}
	return &loader.Error{Pos: s.FileSet.Position(where.Pos()), Err: fmt.Errorf("%w: syntax nested more than %d deep (a very long chain of operators, or deeply nested expressions or blocks); yaegi compiles such code in time that grows with the square of its depth: split it into statements or funcs",
		ErrUnsupported, maxDepth)}
}

// rangeSuspects returns the range statements whose operand's type depends
// on an import, which unsupported cannot judge: when yaegi then panics with
// "nil type", one of them is the likely cause.
func rangeSuspects(s *loader.Source) []token.Position {
	info := &types.Info{Types: make(map[ast.Expr]types.TypeAndValue)}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}, DisableUnusedImportCheck: true}
	_, _ = conf.Check(s.Package, s.FileSet, []*ast.File{s.AST}, info)
	var out []token.Position
	ast.Inspect(s.AST, func(n ast.Node) bool {
		if r, ok := n.(*ast.RangeStmt); ok {
			if t := info.TypeOf(r.X); t == nil || t == types.Typ[types.Invalid] {
				out = append(out, s.FileSet.Position(r.For))
			}
		}
		return true
	})
	return out
}

// emptyImporter stands in for every import with an empty package, so that
// type checking can go on without export data, which a deployed server does
// not have. Only unsafe, which go/types knows by itself, is real.
type emptyImporter struct{}

func (emptyImporter) Import(ip string) (*types.Package, error) {
	if ip == "unsafe" {
		return types.Unsafe, nil
	}
	name := path.Base(ip)
	if strings.HasPrefix(name, "v") && len(name) > 1 && strings.Trim(name[1:], "0123456789") == "" {
		name = path.Base(path.Dir(ip)) // math/rand/v2 is package rand
	}
	p := types.NewPackage(ip, name)
	p.MarkComplete()
	return p, nil
}

// joinErrors joins errs, which are already in source order.
func joinErrors(errs []error) error { return errors.Join(errs...) }
