package script

import (
	"fmt"
	"go/ast"
	"io"
	"reflect"
	"runtime/debug"
	"sync/atomic"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
)

// A panic in a goroutine ends the process, and yaegi runs a script's
// goroutines on goroutines of the process: a script bug in a background
// worker would take the server down. So each goroutine a script starts
// with go func() { ... }() gets, as its first statement, a deferred func
// that recovers the panic and hands it to the loader (package
// hotpatchguard, imported on the package clause's line so that no line
// moves). A goroutine started as go f(x, y) becomes the statement
// hotpatchguard.Go(f)(x, y), the go keyword blanked (no column moves
// either): f, x and y are evaluated by the calling goroutine, as the go
// statement does (yaegi evaluates the arguments of a go statement that
// calls a compiled func in the new goroutine, so go hotpatchguard.Go(f)(x)
// would see x as it is later), and the guard's func starts a goroutine
// that calls f under a recover. A call that spreads a slice, go
// f(a, xs...), becomes hotpatchguard.GoSpread(f)(a, xs), which passes xs
// itself as the variadic parameter, as the go statement does. Of the
// builtins, which are no values, the two that can panic are guarded: go
// panic(v) and go close(ch) become hotpatchguard.Go(hotpatchguard.Panic)(v)
// and hotpatchguard.Go(hotpatchguard.Close)(ch) (closing a receive-only
// channel is then refused when it runs, as a panic, not at load). The
// other builtins cannot panic in a go statement and are left as they are,
// and so is a name of these two that the script declares itself anywhere
// (it may shadow the builtin or not: the file is not type-checked here).

// guardPath is the import path of the loader's guard package: a domain
// that cannot exist, so no real package is shadowed.
const guardPath = "hotpatch.invalid/guard"

// goroutineGuards returns the edits that guard the script's goroutines,
// or nil if it starts none with a func literal.
func goroutineGuards(s *loader.Source) []edit {
	off := func(n ast.Node, end bool) int {
		if end {
			return s.FileSet.Position(n.End()).Offset
		}
		return s.FileSet.Position(n.Pos()).Offset
	}
	declared := declaredNames(s.AST)
	var edits []edit
	ast.Inspect(s.AST, func(n ast.Node) bool {
		g, ok := n.(*ast.GoStmt)
		if !ok {
			return true
		}
		fun := ast.Unparen(g.Call.Fun)
		if lit, ok := fun.(*ast.FuncLit); ok {
			edits = append(edits, edit{off: off(lit.Body, false) + 1, text: guardDefer})
			return true
		}
		if id, ok := fun.(*ast.Ident); ok && builtins[id.Name] {
			if guard := builtinGuards[id.Name]; guard != "" && !declared[id.Name] {
				edits = append(edits,
					edit{off: off(g, false), text: "  ", del: len("go")},
					edit{off: off(id, false), text: "hotpatchguard.Go(hotpatchguard." + guard + ")", del: len(id.Name)})
			}
			return true // a builtin that cannot panic here, or a name the script declares
		}
		guard := "Go("
		if g.Call.Ellipsis.IsValid() {
			guard = "GoSpread("
			edits = append(edits, edit{off: s.FileSet.Position(g.Call.Ellipsis).Offset, del: len("...")})
		}
		edits = append(edits,
			edit{off: off(g, false), text: "  ", del: len("go")},
			edit{off: off(g.Call.Fun, false), text: "hotpatchguard." + guard},
			edit{off: off(g.Call.Fun, true), text: ")"})
		return true
	})
	if len(edits) == 0 {
		return nil
	}
	return append(edits, edit{off: off(s.AST.Name, true), text: `; import hotpatchguard "` + guardPath + `"`})
}

// builtins are the names of Go's builtin funcs.
var builtins = map[string]bool{
	"append": true, "cap": true, "clear": true, "close": true, "complex": true, "copy": true,
	"delete": true, "imag": true, "len": true, "make": true, "max": true, "min": true,
	"new": true, "panic": true, "print": true, "println": true, "real": true, "recover": true,
}

// builtinGuards names the guard's funcs for the builtins that can panic
// in a go statement.
var builtinGuards = map[string]string{"panic": "Panic", "close": "Close"}

// declaredNames returns every name the file declares, in any scope.
func declaredNames(f *ast.File) map[string]bool {
	names := make(map[string]bool)
	add := func(ids ...*ast.Ident) {
		for _, id := range ids {
			if id != nil {
				names[id.Name] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			add(n.Name)
		case *ast.ValueSpec:
			add(n.Names...)
		case *ast.TypeSpec:
			add(n.Name)
		case *ast.Field:
			add(n.Names...)
		case *ast.AssignStmt:
			for _, e := range n.Lhs {
				if id, ok := e.(*ast.Ident); ok && n.Tok.String() == ":=" {
					add(id)
				}
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{n.Key, n.Value} {
				if id, ok := e.(*ast.Ident); ok && n.Tok.String() == ":=" {
					add(id)
				}
			}
		case *ast.LabeledStmt:
			add(n.Label)
		case *ast.ImportSpec:
			add(n.Name)
		}
		return true
	})
	return names
}

// guardDefer is the first statement of a guarded goroutine. It is a func
// literal because yaegi's recover sees only the panics of the frame that
// encloses it lexically.
const guardDefer = "defer func() { if hotpatchPanic := recover(); hotpatchPanic != nil { hotpatchguard.Panicked(hotpatchPanic) } }();"

// goGuard receives the panics of one version's goroutines.
type goGuard struct {
	id     string
	stderr io.Writer
	slot   string                  // the slot reports name: the script's first
	ver    atomic.Pointer[version] // set once the script is loaded
}

func (g *goGuard) exports() map[string]reflect.Value {
	return map[string]reflect.Value{"Panicked": reflect.ValueOf(g.panicked), "Go": reflect.ValueOf(g.goCall),
		"GoSpread": reflect.ValueOf(g.goSpread), "Panic": reflect.ValueOf(guardPanic), "Close": reflect.ValueOf(guardClose)}
}

// panicked writes the panic to Options.Stderr and, once the patch has
// served a call (so that it is the one serving its slots, as far as the
// manager's rollback goes), reports it to the host.
func (g *goGuard) panicked(v any) {
	if rv, ok := v.(reflect.Value); ok && rv.IsValid() && rv.CanInterface() {
		v = rv.Interface()
	}
	err := fmt.Errorf("script %s: a goroutine it started panicked: %w", g.id, &hotswap.PanicError{Value: v, Stack: debug.Stack()})
	fmt.Fprintln(g.stderr, err)
	if ver := g.ver.Load(); ver != nil && ver.called.Load() {
		ver.reportFailure(g.slot, err)
	}
}

// goCall is hotpatchguard.Go: go f(args) becomes Go(f)(args), and the
// returned func, given the arguments evaluated by the caller, starts the
// goroutine, which calls f with them under a recover. args come as any:
// an untyped constant arrives with its default type and nil as nil, so
// each is converted to f's parameter type as the compiler would have.
func (g *goGuard) goCall(fn any) func(args ...any) {
	f := reflect.ValueOf(fn)
	if rv, ok := fn.(reflect.Value); ok {
		f = rv
	}
	return func(args ...any) {
		in := callArgs(f.Type(), args)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					g.panicked(v)
				}
			}()
			f.Call(in)
		}()
	}
}

// goSpread is hotpatchguard.GoSpread: go f(a, xs...) becomes
// GoSpread(f)(a, xs), and the goroutine calls f with xs itself as its
// variadic parameter.
func (g *goGuard) goSpread(fn any) func(args ...any) {
	f := reflect.ValueOf(fn)
	if rv, ok := fn.(reflect.Value); ok {
		f = rv
	}
	return func(args ...any) {
		t := f.Type()
		in := callArgs(t, args[:len(args)-1])
		last := valueOf(args[len(args)-1])
		st := t.In(t.NumIn() - 1)
		switch {
		case !last.IsValid():
			last = reflect.Zero(st)
		case !last.Type().AssignableTo(st) && last.Type().ConvertibleTo(st):
			last = last.Convert(st)
		}
		in = append(in, last)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					g.panicked(v)
				}
			}()
			f.CallSlice(in)
		}()
	}
}

// guardPanic is hotpatchguard.Panic, the builtin panic as a value.
func guardPanic(v any) { panic(v) }

// guardClose is hotpatchguard.Close, the builtin close as a value.
func guardClose(ch any) { valueOf(ch).Close() }

// valueOf is reflect.ValueOf, for a value the interpreter may pass as a
// reflect.Value.
func valueOf(a any) reflect.Value {
	if rv, ok := a.(reflect.Value); ok {
		return rv
	}
	return reflect.ValueOf(a)
}

// callArgs converts args to the parameters of the func type t.
func callArgs(t reflect.Type, args []any) []reflect.Value {
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		var pt reflect.Type
		if t.IsVariadic() && i >= t.NumIn()-1 {
			pt = t.In(t.NumIn() - 1).Elem()
		} else {
			pt = t.In(i)
		}
		v := reflect.ValueOf(a)
		if rv, ok := a.(reflect.Value); ok {
			v = rv
		}
		switch {
		case !v.IsValid():
			v = reflect.Zero(pt)
		case !v.Type().AssignableTo(pt) && v.Type().ConvertibleTo(pt):
			v = v.Convert(pt)
		}
		in[i] = v
	}
	return in
}
