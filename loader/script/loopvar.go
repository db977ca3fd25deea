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

	// One walk over the file (the work must not grow with the nesting of
	// loops): note each loop's variables with the depth of func literals
	// at the loop, and each use of one from a deeper func literal.
	type loop struct {
		body     *ast.BlockStmt
		three    bool                    // a three-clause loop
		captured map[types.Object]string // its variables that a func literal uses, by name
	}
	var (
		loops []*loop
		owner = map[types.Object]*loop{}
		depth = map[types.Object]int{} // func literal depth at the loop
		lits  int                      // func literals around the node being visited
		stack []ast.Node
	)
	declare := func(l *loop, ids []ast.Expr) {
		for _, e := range ids {
			if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
				if obj := info.Defs[id]; obj != nil {
					owner[obj], depth[obj] = l, lits
				}
			}
		}
	}
	ast.Inspect(s.AST, func(n ast.Node) bool {
		if n == nil {
			if _, ok := stack[len(stack)-1].(*ast.FuncLit); ok {
				lits--
			}
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		switch n := n.(type) {
		case *ast.FuncLit:
			lits++
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE {
				l := &loop{body: n.Body}
				loops = append(loops, l)
				declare(l, []ast.Expr{n.Key, n.Value})
			}
		case *ast.ForStmt:
			if init, ok := n.Init.(*ast.AssignStmt); ok && init.Tok == token.DEFINE {
				l := &loop{body: n.Body, three: true}
				loops = append(loops, l)
				declare(l, init.Lhs)
			}
		case *ast.Ident:
			obj := info.Uses[n]
			if l, ok := owner[obj]; ok && lits > depth[obj] {
				if l.captured == nil {
					l.captured = map[types.Object]string{}
				}
				l.captured[obj] = n.Name
			}
		}
		return true
	})

	// A three-clause loop's captured variable that its body changes (or
	// takes the address of) cannot be copied.
	var errs []error
	changed := func(e ast.Expr) {
		id, ok := ast.Unparen(e).(*ast.Ident)
		if !ok {
			return
		}
		obj := info.Uses[id]
		l, ok := owner[obj]
		inBody := ok && l.body.Lbrace < id.Pos() && id.Pos() < l.body.Rbrace // not the loop's own post statement
		if inBody && l.three && l.captured[obj] != "" {
			errs = append(errs, &loader.Error{Pos: s.FileSet.Position(id.Pos()), Err: fmt.Errorf("%w: loop variable %s is captured by a func literal and changed in the loop body; yaegi %s shares one %s across iterations (Go before 1.22): capture a copy (c := %s) instead, or loop over a range",
				ErrUnsupported, id.Name, yaegiVersion, id.Name, id.Name)})
			delete(l.captured, obj) // once is enough
		}
	}
	ast.Inspect(s.AST, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok != token.DEFINE {
				for _, e := range n.Lhs {
					changed(e)
				}
			}
		case *ast.IncDecStmt:
			changed(n.X)
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				changed(n.X)
			}
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				changed(n.Key)
				changed(n.Value)
			}
		}
		return true
	})
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}

	var edits []edit
	for _, l := range loops {
		if len(l.captured) == 0 {
			continue
		}
		names := make([]string, 0, len(l.captured))
		for _, name := range l.captured {
			names = append(names, name)
		}
		slices.Sort(names)
		list := strings.Join(names, ", ")
		lb := s.FileSet.Position(l.body.Lbrace).Offset
		rb := s.FileSet.Position(l.body.Rbrace).Offset
		edits = append(edits, edit{off: lb + 1, text: list + " := " + list + "; {"}, edit{off: rb, text: "}"})
	}
	return edits, nil
}

// edit inserts text at a byte offset of the source, in place of the del
// bytes there.
type edit struct {
	off  int
	text string
	del  int
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
		last = e.off + e.del
	}
	b.WriteString(src[last:])
	return b.String()
}
