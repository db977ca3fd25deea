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
// through an interface of the script leads to every method of that name;
// a variable, field, map or slice that funcs are stored in leads to every
// func stored in it: func literals, the script's funcs and method values,
// also inside composite literals and call arguments), and a String,
// Error or GoString method that hands its own receiver to fmt or log,
// which call the method again. That over-approximates: an entry of a
// table of funcs that calls another entry through the table is refused.
//
// What it cannot see still overflows: recursion through host code (a
// func value or a value with methods passed to a host func that calls
// back into the script: sort.Sort of a type whose Less sorts again),
// through interface values of other names, or through a func the script
// passes as an argument to its own func, which stores it.
// docs/scripts.md says so.
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
	hub  bool // not a func: a variable or field, or an interface method name, that leads to funcs
}

// hubPos sorts hubs after every func, so that a cycle is reported from a
// func.
const hubPos = token.Pos(1 << 62)

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

	byObj := map[types.Object]*fnode{} // top-level funcs and methods
	methods := map[string][]*fnode{}   // methods by name, for calls through an interface
	// A variable or field that funcs are stored in is a hub: its uses lead
	// to it and it leads to the funcs, so that n uses of a table of m
	// funcs make n+m edges, not n×m.
	hubs := map[types.Object]*fnode{}
	hubTo := map[*fnode]map[*fnode]bool{}
	link := func(hub, to *fnode) {
		if hubTo[hub] == nil {
			hubTo[hub] = map[*fnode]bool{}
		}
		if !hubTo[hub][to] {
			hubTo[hub][to] = true
			g.edges[hub] = append(g.edges[hub], edge{to: to, pos: to.pos})
		}
	}
	lits := map[*ast.FuncLit]*fnode{} // func literals stored somewhere: nodes of their own
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
	objOf := func(id *ast.Ident) types.Object {
		if o := info.Defs[id]; o != nil {
			return o
		}
		return info.Uses[id]
	}
	// holders returns what an assignment to lhs stores into: the variable
	// at its root or the last field on the way (x, x[k], *p; x.f, x.f[k]).
	holders := func(lhs ast.Expr) []types.Object {
		var out []types.Object
		for {
			switch e := lhs.(type) {
			case *ast.Ident:
				if v, ok := objOf(e).(*types.Var); ok {
					out = append(out, v)
				}
				return out
			case *ast.SelectorExpr:
				sel, ok := info.Selections[e]
				if !ok || sel.Kind() != types.FieldVal {
					return out // a package's variable: not the script's
				}
				return append(out, sel.Obj()) // every call through it names the field
			case *ast.IndexExpr:
				lhs = e.X
			case *ast.StarExpr:
				lhs = e.X
			case *ast.ParenExpr:
				lhs = e.X
			default:
				return out
			}
		}
	}
	// store records that the func values in rhs (func literals, the
	// script's funcs and method values, also inside composite literals and
	// call arguments) may be stored into hs. A stored literal becomes a
	// node of its own, which every use of hs leads to, and which from (the
	// func it is written in, if any) may call too. Stored literals go to
	// queue, to look for stores in their own bodies.
	var queue []*fnode
	var store func(from *fnode, hs []types.Object, where string, rhs ast.Expr)
	store = func(from *fnode, hs []types.Object, where string, rhs ast.Expr) {
		if len(hs) == 0 {
			return
		}
		hold := func(n *fnode) {
			for _, h := range hs {
				hub, ok := hubs[h]
				if !ok {
					hub = &fnode{name: h.Name(), pos: hubPos, hub: true}
					hubs[h] = hub
					g.nodes = append(g.nodes, hub)
				}
				link(hub, n)
			}
		}
		ast.Inspect(rhs, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				fn, ok := lits[n]
				if !ok {
					fn = &fnode{name: "the func literal held by " + where, pos: n.Pos(), body: n.Body}
					lits[n] = fn
					g.nodes = append(g.nodes, fn)
					queue = append(queue, fn)
					if from != nil {
						g.edges[from] = append(g.edges[from], edge{to: fn, pos: n.Pos()})
					}
				}
				hold(fn)
				return false
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok {
					if f, ok := info.Uses[id].(*types.Var); ok && f.IsField() {
						store(from, append(slices.Clip(hs), f), f.Name(), n.Value)
						return false
					}
				}
			case *ast.SelectorExpr:
				if sel, ok := info.Selections[n]; ok && sel.Kind() != types.FieldVal {
					if fn, ok := byObj[sel.Obj()]; ok {
						hold(fn)
					}
				}
			case *ast.Ident:
				if fn, ok := byObj[info.Uses[n]]; ok {
					hold(fn)
				}
			}
			return true
		})
	}
	findStores := func(from *fnode, root ast.Node) {
		ast.Inspect(root, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return lits[n] == nil // a stored one is searched as its own node
			case *ast.AssignStmt:
				if len(n.Lhs) == len(n.Rhs) {
					for i := range n.Lhs {
						store(from, holders(n.Lhs[i]), types.ExprString(n.Lhs[i]), n.Rhs[i])
					}
				}
			case *ast.ValueSpec:
				if len(n.Names) == len(n.Values) {
					for i := range n.Names {
						store(from, holders(n.Names[i]), n.Names[i].Name, n.Values[i])
					}
				}
			}
			return true
		})
	}
	for _, d := range s.AST.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
			findStores(nil, gd)
		}
	}
	queue = slices.Clone(g.nodes) // the stored literals found so far are among them
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if !n.hub {
			findStores(n, n.body)
		}
	}
	ifaceHubs := map[string]*fnode{} // by method name, for calls through an interface
	for _, from := range g.nodes {
		if from.hub {
			continue
		}
		add := func(to *fnode, pos token.Pos) { g.edges[from] = append(g.edges[from], edge{to: to, pos: pos}) }
		ast.Inspect(from.body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				// A literal stored in a variable or field is a node of its
				// own, which the uses of where it is stored lead to; another
				// one runs as part of the func it is in, as far as
				// recursion goes.
				return lits[n] == nil
			case *ast.SelectorExpr:
				sel, ok := info.Selections[n]
				if !ok || sel.Kind() == types.FieldVal {
					break // a field, a package member, or a host type's method
				}
				if to, ok := byObj[sel.Obj()]; ok {
					add(to, n.Sel.Pos())
				} else if ms := methods[n.Sel.Name]; len(ms) > 0 && types.IsInterface(sel.Recv()) {
					hub, ok := ifaceHubs[n.Sel.Name]
					if !ok {
						hub = &fnode{name: "an interface's " + n.Sel.Name, pos: hubPos, hub: true}
						ifaceHubs[n.Sel.Name] = hub
						for _, to := range ms {
							link(hub, to)
						}
					}
					add(hub, n.Sel.Pos())
				}
			case *ast.Ident:
				obj := info.Uses[n]
				if to, ok := byObj[obj]; ok {
					add(to, n.Pos())
				}
				if hub, ok := hubs[obj]; ok {
					add(hub, n.Pos())
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

// cycleError words a cycle, at the first call of it. Hubs are not calls:
// they are said as what a call goes through.
func (g *callGraph) cycleError(cyc []*fnode) error {
	pos := func(p token.Pos) token.Position { return g.s.FileSet.Position(p) }
	type step struct {
		from, to *fnode
		at       token.Pos
		through  string
	}
	var steps []step
	for i, n := range cyc { // cyc[0] is a func: hubs sort last
		if n.hub {
			continue
		}
		st := step{from: n, at: g.edge(n, cyc[(i+1)%len(cyc)]).pos}
		j := (i + 1) % len(cyc)
		for cyc[j].hub {
			if st.through != "" {
				st.through += ", "
			}
			st.through += cyc[j].name
			j = (j + 1) % len(cyc)
		}
		st.to = cyc[j]
		if st.through != "" {
			st.through = " through " + st.through
		}
		steps = append(steps, st)
	}
	const advice = "use a loop with a stack of your own, or a native or process patch"
	if len(steps) == 1 {
		st := steps[0]
		return &loader.Error{Pos: pos(st.at), Err: fmt.Errorf("%w: %s calls itself%s (%s)", ErrRecursion, st.from.name, st.through, advice)}
	}
	var b strings.Builder
	for i, st := range steps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s calls %s%s at line %d", st.from.name, st.to.name, st.through, pos(st.at).Line)
	}
	return &loader.Error{Pos: pos(steps[0].at), Err: fmt.Errorf("%w: %s (%s)", ErrRecursion, b.String(), advice)}
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
