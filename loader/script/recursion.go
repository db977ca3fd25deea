package script

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"

	"github.com/hotpatch-go/hotpatch/loader"
)

// recursion refuses the recursion it can see among the script's own funcs.
//
// yaegi runs an interpreted call on the Go stack of its caller, a few
// kilobytes per level, and Go's stack limit is process-wide: recursion
// that does not end overflows it, which is fatal to the whole process, not
// a panic the loader could recover. There is no per-call bound to put in
// its way (runtime/debug.SetMaxStack would change every goroutine of the
// server, and the interpreter has no depth hook), so a script may not
// recurse at all, as far as this can see: a func or method that calls
// itself, directly or through other funcs of the script (a method called
// through an interface of the script leads to every method of that name,
// a func variable to the func literals assigned to it), and a
// String, Error or GoString method that hands its own receiver to fmt or
// log, which call the method again.
//
// What it cannot see still overflows: recursion through host code (a
// func value passed to a host func that calls back into the script) or
// through interface values of other names. docs/scripts.md says so.
func recursion(s *loader.Source) error {
	g := newCallGraph(s)
	var errs []error
	for _, cyc := range g.cycles() {
		errs = append(errs, g.cycleError(cyc))
	}
	errs = append(errs, stringerLoops(s)...)
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b error) int { return posOf(a).Line - posOf(b).Line })
	if len(errs) == 1 {
		return errs[0]
	}
	return joinErrors(errs)
}

// callGraph links the script's funcs (top-level funcs, methods and func
// literals) to what they may call.
type callGraph struct {
	s     *loader.Source
	nodes []*fnode
	edges map[*fnode][]edge
}

type fnode struct {
	name string    // as a message names it: F, T.M, the func literal held by f
	pos  token.Pos // of the declaration
	body *ast.BlockStmt
}

type edge struct {
	to  *fnode
	pos token.Pos // of the reference in the caller
}

func newCallGraph(s *loader.Source) *callGraph {
	g := &callGraph{s: s, edges: map[*fnode][]edge{}}
	info := &types.Info{
		Defs:       map[*ast.Ident]types.Object{},
		Uses:       map[*ast.Ident]types.Object{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
	}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}, DisableUnusedImportCheck: true}
	_, _ = conf.Check(s.Package, s.FileSet, []*ast.File{s.AST}, info)

	byObj := map[types.Object]*fnode{}  // top-level funcs and methods
	methods := map[string][]*fnode{}    // methods by name, for calls through an interface
	held := map[types.Object][]*fnode{} // func literals by the variable they are assigned to
	isHeld := map[*ast.BlockStmt]bool{}
	for _, d := range s.AST.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		n := &fnode{name: fd.Name.Name, pos: fd.Name.Pos(), body: fd.Body}
		if fd.Recv != nil && len(fd.Recv.List) > 0 {
			n.name = recvName(fd.Recv.List[0].Type) + "." + fd.Name.Name
			methods[fd.Name.Name] = append(methods[fd.Name.Name], n)
		}
		if obj := info.Defs[fd.Name]; obj != nil {
			byObj[obj] = n
		}
		g.nodes = append(g.nodes, n)
	}
	varOf := func(id *ast.Ident) types.Object {
		if o := info.Defs[id]; o != nil {
			return o
		}
		return info.Uses[id]
	}
	ast.Inspect(s.AST, func(n ast.Node) bool {
		hold := func(lhs ast.Expr, rhs ast.Expr) {
			id, ok1 := lhs.(*ast.Ident)
			lit, ok2 := rhs.(*ast.FuncLit)
			if !ok1 || !ok2 {
				return
			}
			v, ok := varOf(id).(*types.Var)
			if !ok {
				return
			}
			fn := &fnode{name: "the func literal held by " + id.Name, pos: lit.Pos(), body: lit.Body}
			held[v] = append(held[v], fn)
			isHeld[lit.Body] = true
			g.nodes = append(g.nodes, fn)
		}
		switch n := n.(type) {
		case *ast.AssignStmt:
			if len(n.Lhs) == len(n.Rhs) {
				for i := range n.Lhs {
					hold(n.Lhs[i], n.Rhs[i])
				}
			}
		case *ast.ValueSpec:
			if len(n.Names) == len(n.Values) {
				for i := range n.Names {
					hold(n.Names[i], n.Values[i])
				}
			}
		}
		return true
	})
	for _, from := range g.nodes {
		add := func(to *fnode, pos token.Pos) { g.edges[from] = append(g.edges[from], edge{to: to, pos: pos}) }
		ast.Inspect(from.body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				// A literal held by a variable is a node of its own, which
				// the variable's uses lead to; another one runs as part of
				// the func it is in, as far as recursion goes.
				return !isHeld[n.Body]
			case *ast.SelectorExpr:
				sel, ok := info.Selections[n]
				if !ok || sel.Kind() == types.FieldVal {
					break // a field, a package member, or a host type's method
				}
				if to, ok := byObj[sel.Obj()]; ok {
					add(to, n.Sel.Pos())
				} else if types.IsInterface(sel.Recv()) {
					for _, to := range methods[n.Sel.Name] {
						add(to, n.Sel.Pos())
					}
				}
			case *ast.Ident:
				obj := info.Uses[n]
				if to, ok := byObj[obj]; ok {
					add(to, n.Pos())
				}
				for _, to := range held[obj] {
					add(to, n.Pos())
				}
			}
			return true
		})
	}
	return g
}

// recvName returns the name of a receiver's type: T for T, *T, T[P].
func recvName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return "?"
		}
	}
}

// cycles returns the strongly connected components of the graph that
// contain a cycle, each in an order where every node calls the next (and
// the last calls the first), in source order of their first node.
func (g *callGraph) cycles() [][]*fnode {
	// Tarjan's algorithm; scripts are small, recursion depth is their
	// number of funcs.
	index := map[*fnode]int{}
	low := map[*fnode]int{}
	on := map[*fnode]bool{}
	var stack []*fnode
	var out [][]*fnode
	var visit func(v *fnode)
	visit = func(v *fnode) {
		index[v], low[v] = len(index), len(index)
		stack = append(stack, v)
		on[v] = true
		for _, e := range g.edges[v] {
			if _, seen := index[e.to]; !seen {
				visit(e.to)
				low[v] = min(low[v], low[e.to])
			} else if on[e.to] {
				low[v] = min(low[v], index[e.to])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []*fnode
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		if len(scc) > 1 || g.edge(v, v) != nil {
			out = append(out, g.path(scc))
		}
	}
	for _, v := range g.nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	slices.SortFunc(out, func(a, b []*fnode) int { return int(a[0].pos - b[0].pos) })
	return out
}

// edge returns the first edge from a to b, or nil.
func (g *callGraph) edge(a, b *fnode) *edge {
	for i, e := range g.edges[a] {
		if e.to == b {
			return &g.edges[a][i]
		}
	}
	return nil
}

// path returns a cycle through the first (in source order) node of scc,
// staying inside scc: breadth-first from it back to it.
func (g *callGraph) path(scc []*fnode) []*fnode {
	slices.SortFunc(scc, func(a, b *fnode) int { return int(a.pos - b.pos) })
	start := scc[0]
	in := map[*fnode]bool{}
	for _, n := range scc {
		in[n] = true
	}
	prev := map[*fnode]*fnode{}
	queue := []*fnode{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.edges[v] {
			if e.to == start {
				var cyc []*fnode
				for w := v; w != start; w = prev[w] {
					cyc = append(cyc, w)
				}
				cyc = append(cyc, start)
				slices.Reverse(cyc)
				return cyc
			}
			if _, seen := prev[e.to]; !seen && in[e.to] {
				prev[e.to] = v
				queue = append(queue, e.to)
			}
		}
	}
	return scc // not reached: scc is strongly connected
}

// cycleError words a cycle, at the first call of it.
func (g *callGraph) cycleError(cyc []*fnode) error {
	pos := func(p token.Pos) token.Position { return g.s.FileSet.Position(p) }
	if len(cyc) == 1 {
		return &loader.Error{Pos: pos(g.edge(cyc[0], cyc[0]).pos), Err: fmt.Errorf("%w: %s calls itself (use a loop with a stack of your own, or a native or process patch)", ErrRecursion, cyc[0].name)}
	}
	var b strings.Builder
	for i, n := range cyc {
		next := cyc[(i+1)%len(cyc)]
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s calls %s at line %d", n.name, next.name, pos(g.edge(n, next).pos).Line)
	}
	return &loader.Error{Pos: pos(g.edge(cyc[0], cyc[1]).pos), Err: fmt.Errorf("%w: %s (use a loop with a stack of your own, or a native or process patch)", ErrRecursion, b.String())}
}

// stringerLoops finds String, Error and GoString methods that pass their
// own receiver to fmt or log, which format it by calling the method again.
func stringerLoops(s *loader.Source) []error {
	names := map[string]bool{} // the file's names for fmt and log
	for _, imp := range s.AST.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if ip != "fmt" && ip != "log" {
			continue
		}
		if imp.Name != nil {
			names[imp.Name.Name] = true
		} else {
			names[ip] = true
		}
	}
	var errs []error
	for _, d := range s.AST.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil || fd.Recv == nil || len(fd.Recv.List) == 0 || len(fd.Recv.List[0].Names) == 0 {
			continue
		}
		if m := fd.Name.Name; m != "String" && m != "Error" && m != "GoString" {
			continue
		}
		recv := fd.Recv.List[0].Names[0].Name
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || !names[x.Name] {
				return true
			}
			for _, a := range call.Args {
				if st, ok := a.(*ast.StarExpr); ok {
					a = st.X
				}
				if id, ok := a.(*ast.Ident); ok && id.Name == recv {
					errs = append(errs, &loader.Error{Pos: s.FileSet.Position(a.Pos()), Err: fmt.Errorf("%w: method %s.%s passes its receiver %s to %s.%s, which calls %s again (format its fields, or convert it to a type without the method)",
						ErrRecursion, recvName(fd.Recv.List[0].Type), fd.Name.Name, recv, sel.X.(*ast.Ident).Name, sel.Sel.Name, fd.Name.Name)})
				}
			}
			return true
		})
	}
	return errs
}
