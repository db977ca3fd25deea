package script

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/loader"
)

// yaegi v0.16.1 runs loops with Go's semantics before 1.22: one loop
// variable for all iterations, so a func literal that captures it sees
// the value of a later iteration (for i := 0; i < 3; i++ { fs =
// append(fs, func() int { return i }) } returns 3, 3, 3), and a goroutine
// started in the loop reads it while the loop changes it (a data race,
// and an index out of range that ends the process). The module is Go
// 1.22 or later, so scripts are written for a variable per iteration.
//
// loopCopies restores that: for each loop that declares its variables
// with := and has a func literal in its body that captures one of them,
// it returns the edits that give the body a copy of its own, as Go 1.22
// does: the body { ... } becomes {i := i; { ... }} (the inner block keeps
// the body's own declarations of the same names legal). The edits keep
// every line where it is; only the columns after a loop's opening and
// before its closing brace move, on those two lines.
//
// A three-clause loop whose body also assigns to a captured variable (or
// takes its address) is refused instead: in Go 1.22 the next iteration
// starts from the value the body left, which a copy would lose.
func loopCopies(s *loader.Source) ([]edit, error) {
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}, DisableUnusedImportCheck: true}
	_, _ = conf.Check(s.Package, s.FileSet, []*ast.File{s.AST}, info)

	var (
		edits []edit
		errs  []error
	)
	ast.Inspect(s.AST, func(n ast.Node) bool {
		var (
			vars  []*ast.Ident
			body  *ast.BlockStmt
			three bool
		)
		switch n := n.(type) {
		case *ast.RangeStmt:
			if n.Tok != token.DEFINE {
				return true
			}
			for _, e := range []ast.Expr{n.Key, n.Value} {
				if id, ok := e.(*ast.Ident); ok {
					vars = append(vars, id)
				}
			}
			body = n.Body
		case *ast.ForStmt:
			init, ok := n.Init.(*ast.AssignStmt)
			if !ok || init.Tok != token.DEFINE {
				return true
			}
			for _, e := range init.Lhs {
				if id, ok := e.(*ast.Ident); ok {
					vars = append(vars, id)
				}
			}
			body, three = n.Body, true
		default:
			return true
		}
		objs := map[types.Object]string{}
		for _, id := range vars {
			if obj := info.Defs[id]; obj != nil && id.Name != "_" {
				objs[obj] = id.Name
			}
		}
		captured := capturedIn(body, objs, info)
		if len(captured) == 0 {
			return true
		}
		if three {
			if id := assignedIn(body, captured, info); id != nil {
				errs = append(errs, &loader.Error{Pos: s.FileSet.Position(id.Pos()), Err: fmt.Errorf("%w: loop variable %s is captured by a func literal and changed in the loop body; yaegi %s shares one %s across iterations (Go before 1.22): capture a copy (c := %s) instead, or loop over a range",
					ErrUnsupported, id.Name, yaegiVersion, id.Name, id.Name)})
				return true
			}
		}
		names := make([]string, 0, len(captured))
		for _, name := range captured {
			names = append(names, name)
		}
		slices.Sort(names)
		list := strings.Join(names, ", ")
		lb := s.FileSet.Position(body.Lbrace).Offset
		rb := s.FileSet.Position(body.Rbrace).Offset
		edits = append(edits, edit{off: lb + 1, text: list + " := " + list + "; {"}, edit{off: rb, text: "}"})
		return true
	})
	switch len(errs) {
	case 0:
		return edits, nil
	case 1:
		return nil, errs[0]
	}
	return nil, joinErrors(errs)
}

// capturedIn returns those of objs that a func literal in body uses.
func capturedIn(body *ast.BlockStmt, objs map[types.Object]string, info *types.Info) map[types.Object]string {
	out := map[types.Object]string{}
	ast.Inspect(body, func(n ast.Node) bool {
		lit, ok := n.(*ast.FuncLit)
		if !ok {
			return true
		}
		ast.Inspect(lit.Body, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				if name, ok := objs[info.Uses[id]]; ok {
					out[info.Uses[id]] = name
				}
			}
			return true
		})
		return false
	})
	return out
}

// assignedIn returns the first use in body (func literals included) that
// assigns to one of objs or takes its address, or nil.
func assignedIn(body *ast.BlockStmt, objs map[types.Object]string, info *types.Info) *ast.Ident {
	var found *ast.Ident
	is := func(e ast.Expr) {
		if id, ok := ast.Unparen(e).(*ast.Ident); ok && found == nil {
			if _, ok := objs[info.Uses[id]]; ok {
				found = id
			}
		}
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, e := range n.Lhs {
					is(e)
				}
			}
		case *ast.IncDecStmt:
			is(n.X)
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				is(n.X)
			}
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				is(n.Key)
				is(n.Value)
			}
		}
		return found == nil
	})
	return found
}

// edit inserts text at a byte offset of the source.
type edit struct {
	off  int
	text string
}

// applyEdits returns src with edits made; their offsets are src's.
func applyEdits(src string, edits []edit) string {
	if len(edits) == 0 {
		return src
	}
	sorted := slices.Clone(edits)
	slices.SortStableFunc(sorted, func(a, b edit) int { return a.off - b.off })
	var b strings.Builder
	b.Grow(len(src) + 16*len(edits))
	last := 0
	for _, e := range sorted {
		b.WriteString(src[last:e.off])
		b.WriteString(e.text)
		last = e.off
	}
	b.WriteString(src[last:])
	return b.String()
}
