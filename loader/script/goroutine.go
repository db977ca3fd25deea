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
// moves). A goroutine started as go f(x) is not
// guarded: docs/scripts.md says to write it as a func literal.

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
	var edits []edit
	ast.Inspect(s.AST, func(n ast.Node) bool {
		if g, ok := n.(*ast.GoStmt); ok {
			if lit, ok := g.Call.Fun.(*ast.FuncLit); ok {
				edits = append(edits, edit{off: off(lit.Body, false) + 1, text: guardDefer})
			}
		}
		return true
	})
	if len(edits) == 0 {
		return nil
	}
	return append(edits, edit{off: off(s.AST.Name, true), text: `; import hotpatchguard "` + guardPath + `"`})
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
	return map[string]reflect.Value{"Panicked": reflect.ValueOf(g.panicked)}
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
