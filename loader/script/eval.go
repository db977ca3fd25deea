package script

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/traefik/yaegi/interp"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
)

// eval runs the script in a fresh interpreter, bounded by ctx and
// Options.EvalTimeout, and returns its directive funcs, wrapped, by slot.
//
// The script is compiled and run on a goroutine of its own, so that
// top-level code that never returns cannot hold the caller: on timeout eval
// returns at once and stops the interpreter (see [stopper]), which ends its
// code at the next interpreted step (or when compiled code it is blocked in
// returns). Whatever the outcome, nothing of a refused script keeps
// running: its interpreter is stopped and what it opened through the
// sandbox (listeners, servers) is closed.
//
// A script in package main is evaluated as package Main: yaegi runs the
// main func of package main whenever it evaluates anything in it, which
// would run it again, unbounded, for each func the loader fetches. A patch
// is not a program; its main func is never run.
//
// src is the source to run: the file's, with the edits of [loopCopies]
// and [goroutineGuards], which move no line and leave the package name
// where it is; guarded says whether the latter import the guard package.
func (l *Loader) eval(ctx context.Context, host hotswap.Host, id string, s *loader.Source, src string, guarded bool) (map[string]any, *version, error) {
	limit := l.opts.EvalTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = time.Until(dl)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.EvalTimeout)
	defer cancel()

	where := token.Position{Filename: s.File}
	tap := &stderrTap{w: l.opts.Stderr, file: s.File, capturing: true}
	box := newBox()
	i := interp.New(interp.Options{Stdout: l.opts.Stdout, Stderr: tap, SourcecodeFilesystem: nameFS{}})
	guard := &goGuard{id: id, stderr: tap}
	box.panicked = guard.panicked
	exports := l.pol.exports(s.Imports, l.opts.Stdout, tap, box)
	if guarded {
		exports[guardPath+"/hotpatchguard"] = guard.exports()
	}
	if err := safely(func() error { return i.Use(exports) }); err != nil {
		return nil, nil, &loader.Error{Pos: where, Err: fmt.Errorf("%w: loading symbols: %w", ErrInterpreter, err)}
	}
	nameScript(i)
	st, err := newStopper(i)
	if err != nil {
		return nil, nil, &loader.Error{Pos: where, Err: fmt.Errorf("%w: %w", ErrInterpreter, err)}
	}
	box.halted = st.done
	halt := func() { st.stop(); box.close() }

	code, pkgName := src, s.Package
	if pkgName == "main" {
		off := s.FileSet.Position(s.AST.Name.Pos()).Offset
		pkgName = mainRenamed
		code = code[:off] + pkgName + code[off+len("main"):]
	}
	r := &run{done: make(chan struct{})}
	go r.do(i, code)
	select {
	case <-r.done:
	case <-ctx.Done():
		r.abandoned.Store(true)
		halt()
		go r.reap(st)
		compiled := r.compiled.Load()
		switch {
		case !errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, nil, fmt.Errorf("%s: %w", s.File, ctx.Err())
		case !compiled:
			return nil, nil, &loader.Error{Pos: where, Err: fmt.Errorf("%w: the interpreter was still compiling the script after %v", ErrTimeout, limit.Round(time.Millisecond))}
		}
		return nil, nil, &loader.Error{Pos: topLevelPos(s), Err: fmt.Errorf("%w: top-level code (init funcs, var initializers; the first one is here) still ran after %v",
			ErrTimeout, limit.Round(time.Millisecond))}
	}
	tap.stopCapture()
	if r.err != nil {
		halt()
		return nil, nil, interpError(s, r.err, tap)
	}

	live := &liveToken{report: host.ReportFailure}
	ver := &version{id: id, live: weak.Make(live), callTimeout: max(l.opts.CallTimeout, 0), interp: i, stopper: st, box: box}
	impls := make(map[string]any, len(s.Directives))
	var errs []error
	for _, d := range s.Directives {
		fn, err := l.fetch(host, i, pkgName, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		impls[d.Slot] = ver.wrap(d.Slot, fn, live)
	}
	if len(errs) > 0 {
		halt()
		return nil, nil, joinErrors(errs)
	}
	guard.slot = s.Directives[0].Slot // Parse refuses a file without one
	guard.ver.Store(ver)
	runtime.AddCleanup(live, func(ver *version) { ver.stop("unreachable", ErrStopped) }, ver)
	return impls, ver, nil
}

// mainRenamed is the package name under which a script of package main is
// evaluated: as long as "main", so positions do not move.
const mainRenamed = "Main"

// run is the evaluation of one script's source on its own goroutine.
type run struct {
	done      chan struct{} // closed when the goroutine ends
	compiled  atomic.Bool   // compilation is over; top-level code runs
	abandoned atomic.Bool   // the deadline passed: run nothing more
	err       error         // set before done is closed
}

func (r *run) do(i *interp.Interpreter, code string) {
	defer close(r.done)
	returned := false
	defer func() {
		switch v := recover(); {
		case v != nil: // yaegi reports some of its limits by panicking
			r.err = interp.Panic{Value: v, Stack: debug.Stack()}
		case !returned: // runtime.Goexit, if the policy allows it
			r.err = interp.Panic{Value: errGoexit, Stack: debug.Stack()}
		}
	}()
	prog, err := i.Compile(code)
	r.compiled.Store(true)
	if err != nil || r.abandoned.Load() {
		r.err, returned = err, true
		return
	}
	_, r.err = i.Execute(prog)
	returned = true
}

var errGoexit = errors.New("top-level code called runtime.Goexit")

// reap keeps stopping the interpreter until the evaluation's goroutine has
// ended. One stop is enough for code that was running when it came; code
// that started after it (compilation ended just then) took the new run id,
// which the next stop changes again.
func (r *run) reap(st *stopper) {
	wait := time.Millisecond
	for {
		t := time.NewTimer(wait)
		select {
		case <-r.done:
			t.Stop()
			return
		case <-t.C:
		}
		st.stop()
		wait = min(2*wait, time.Second)
	}
}

// scriptName is the name under which yaegi knows every script; errors and
// panic traces carry it, and the loader puts the real path in its place.
// Positions that carry no name are in yaegi's own generic sources.
const scriptName = "hotpatch-script.go"

// nameScript makes yaegi call the next source it evaluates scriptName.
// yaegi's EvalWithContext has no name parameter, but keeps the name of the
// last source evaluated by path: so evaluate, by that name, an empty source
// that fails at once, before it changes anything else.
//
// EvalPathWithContext rather than EvalPath because it also gives the
// interpreter the done channel that channel operations select on, and
// that [stopper] closes.
func nameScript(i *interp.Interpreter) {
	_, _ = i.EvalPathWithContext(context.Background(), scriptName)
}

// nameFS is the interpreter's source file system: it holds only the empty
// file that nameScript evaluates, so yaegi never looks for source on disk
// (imports come from symbols only, and the policy has checked them).
type nameFS struct{}

func (nameFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (nameFS) Stat(name string) (fs.FileInfo, error) {
	if name != scriptName {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return emptyFile{}, nil
}

func (nameFS) ReadFile(name string) ([]byte, error) {
	if name != scriptName {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return nil, nil
}

type emptyFile struct{}

func (emptyFile) Name() string       { return scriptName }
func (emptyFile) Size() int64        { return 0 }
func (emptyFile) Mode() fs.FileMode  { return 0o444 }
func (emptyFile) ModTime() time.Time { return time.Time{} }
func (emptyFile) IsDir() bool        { return false }
func (emptyFile) Sys() any           { return nil }

// safely runs f, turning a panic into an error: yaegi reports some of its
// own limits by panicking.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &hotswap.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// fetch returns the directive's func as a value of the slot's type.
func (l *Loader) fetch(host hotswap.Host, i *interp.Interpreter, pkgName string, d loader.Directive) (reflect.Value, error) {
	slot, ok := host.Slot(d.Slot)
	if !ok { // checked by Load; registries never forget a slot
		return reflect.Value{}, &loader.Error{Pos: d.Pos, Err: fmt.Errorf("%w: %s", hotswap.ErrUnknownSlot, d.Slot)}
	}
	ref := pkgName + "." + d.Func
	var v reflect.Value
	err := safely(func() (err error) { v, err = i.Eval(ref); return err })
	if err != nil {
		return reflect.Value{}, &loader.Error{Pos: d.Pos, Err: fmt.Errorf("%w: func %s: %w", ErrInterpreter, d.Func, err)}
	}
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return reflect.Value{}, &loader.Error{Pos: d.Pos, Err: fmt.Errorf("%w: %s", ErrNotFuncValue, d.Func)}
	}
	want := slot.Type()
	switch got := v.Type(); {
	case got == want:
		return v, nil
	case got.AssignableTo(want):
		// The script declares func(string) string and the slot's type is a
		// named type with that underlying type: Go assigns one to the other
		// without a conversion, so the script is right.
		return v.Convert(want), nil
	default:
		return reflect.Value{}, &loader.Error{Pos: d.Pos, Err: fmt.Errorf("func %s: %w", d.Func, &hotswap.TypeMismatchError{Slot: d.Slot, Want: want, Got: got})}
	}
}

// version is one evaluated script: its interpreter and the calls in flight
// through its funcs.
type version struct {
	id string
	// live is the wrappers' token, held weakly: the version is the
	// argument of the cleanup that waits for the token to be unreachable,
	// so nothing the version holds may reach the token, and the host's
	// failure reporter, which may reach the patch and so the wrappers (as
	// the manager's per-load host does), is kept in the token.
	live        weak.Pointer[liveToken]
	callTimeout time.Duration
	lateBound   atomic.Int64 // once retired: the bound of calls that start now (the retire timeout), in ns
	inflight    atomic.Int64 // calls running now; a counter, not a WaitGroup, since calls may start while retire waits
	called      atomic.Bool  // a call has started: the patch serves, or served
	stopper     *stopper
	box         *box

	stopped atomic.Pointer[stopError] // why the interpreter was stopped; nil while it runs

	mu     sync.Mutex // guards interp
	interp *interp.Interpreter
}

// liveToken is what the cleanup of a version's interpreter waits on. It
// holds the host's failure reporter for the version's wrappers, which keep
// it alive.
type liveToken struct {
	report func(slot string, err error)
}

// reportFailure reports err for slot to the host, as long as the version's
// funcs can be called (its token is reachable); after that, nothing of the
// version serves, and there is nothing to roll back.
func (ver *version) reportFailure(slot string, err error) {
	if l := ver.live.Value(); l != nil && l.report != nil {
		l.report(slot, err)
	}
}

// stopError is what a call into a stopped script panics with.
type stopError struct {
	id, why string
	cause   error // ErrStopped, or ErrCallTimeout (which wraps it)
}

func (e *stopError) Error() string { return "script " + e.id + ": " + e.why + ": " + e.cause.Error() }
func (e *stopError) Unwrap() error { return e.cause }

// stop ends all code of the version's interpreter and closes what the
// script opened through the sandbox; later calls panic with the reason.
// The first reason sticks.
func (ver *version) stop(why string, cause error) {
	ver.stopped.CompareAndSwap(nil, &stopError{id: ver.id, why: why, cause: cause})
	ver.stopper.stop()
	ver.box.close()
}

// wrap returns fn, of a slot's type, wrapped so that calls are counted,
// bounded by Options.CallTimeout if set, refused once the version is
// stopped, and so that a panic escaping the script is reported before it
// continues up the caller's stack, as a panic in compiled code would.
//
// live is shared by the wrappers of one version and by nothing else:
// when it becomes unreachable, no one can call into the script any more,
// and a cleanup stops the interpreter, ending what the script left
// running (goroutines, timer funcs) and closing what it opened.
func (ver *version) wrap(slot string, fn reflect.Value, live *liveToken) any {
	call := fn.Call
	if fn.Type().IsVariadic() {
		call = fn.CallSlice // args arrive with the variadic ones as a slice
	}
	return reflect.MakeFunc(fn.Type(), func(args []reflect.Value) []reflect.Value {
		defer runtime.KeepAlive(live)
		ver.inflight.Add(1)
		if !ver.called.Load() {
			ver.called.Store(true)
		}
		defer ver.exit(slot)
		if e := ver.stopped.Load(); e != nil {
			panic(e)
		}
		if timeout, why := ver.bound(); timeout > 0 {
			t := time.AfterFunc(timeout, func() {
				err := fmt.Errorf("%w: a call of %s ran longer than %v (%s)", ErrCallTimeout, slot, timeout, why)
				ver.stop("stopped", err)
				ver.reportFailure(slot, fmt.Errorf("script %s: %w", ver.id, err))
			})
			defer t.Stop()
		}
		out := call(args)
		// A stopped interpreter ends its calls early with zero results:
		// those are not the script's answer.
		if e := ver.stopped.Load(); e != nil {
			panic(e)
		}
		return out
	}).Interface()
}

// bound returns the time limit of a call that starts now, and where it
// comes from.
func (ver *version) bound() (time.Duration, string) {
	timeout, why := ver.callTimeout, "Options.CallTimeout"
	if late := time.Duration(ver.lateBound.Load()); late > 0 && (timeout <= 0 || late < timeout) {
		timeout, why = late, "a call made after the patch was retired, bounded by the retire timeout"
	}
	return timeout, why
}

// exit ends one call; it is deferred so that it sees a panic.
func (ver *version) exit(slot string) {
	ver.inflight.Add(-1)
	v := recover()
	if v == nil {
		return
	}
	if e, ok := v.(*stopError); ok {
		panic(e) // reported when it was stopped, if it was for a timeout
	}
	// yaegi re-panics with the value boxed in a reflect.Value; unbox it so
	// that callers see what the script passed to panic (net/http compares
	// with http.ErrAbortHandler, errors.Is unwraps errors).
	if rv, ok := v.(reflect.Value); ok && rv.IsValid() && rv.CanInterface() {
		v = rv.Interface()
	}
	// http.ErrAbortHandler is how a handler aborts a response on purpose,
	// not a failure of the script.
	if v != http.ErrAbortHandler {
		ver.reportFailure(slot, fmt.Errorf("script %s: %w", ver.id, &hotswap.PanicError{Value: v, Stack: debug.Stack()}))
	}
	panic(v)
}

// retire waits for the calls in flight until ctx ends and closes what the
// script opened through the sandbox (listeners, servers). Calls still in
// flight when ctx ends are stuck as far as the manager can tell: retire
// then stops the interpreter, which ends them at their next interpreted
// step with a panic wrapping [ErrStopped], and returns an error saying so.
// It returns when ctx ends at the latest.
//
// Otherwise the interpreter is left to the garbage collector: a caller
// that loaded a func before the swap and calls it only now is still
// served, as from compiled code, within the time retire's context had
// left (past it, the call stops the interpreter as Options.CallTimeout
// would). Once no slot and no caller holds any of
// its funcs, a cleanup stops the interpreter, which ends the goroutines the
// script started (see [version.wrap]).
func (ver *version) retire(ctx context.Context) error {
	defer ver.box.close()
	if dl, ok := ctx.Deadline(); ok {
		// Late calls are served, but as long as retire could have waited
		// for them at most: a late call that loops is stopped too.
		defer ver.lateBound.Store(int64(max(time.Until(dl), time.Millisecond)))
	}
	wait := time.Millisecond
	for ver.inflight.Load() > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n := ver.inflight.Load()
			ver.stop("retired with calls in flight", ErrStopped)
			return fmt.Errorf("script %s: %d calls still in flight were stopped: %w", ver.id, n, ctx.Err())
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	ver.mu.Lock()
	ver.interp = nil
	ver.mu.Unlock()
	return nil
}

// stderrTap forwards the interpreter's stderr, with the script's real name
// in the positions yaegi prints, and, while the script's top-level code
// runs, remembers where the first panic was raised: yaegi prints
// "file:line:col: panic: ..." there but keeps the position out of the error
// it returns.
type stderrTap struct {
	mu        sync.Mutex // guards the fields below and serializes writes
	w         io.Writer
	file      string
	capturing bool
	where     token.Position
}

func (t *stderrTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for line := range strings.Lines(string(p)) {
		rest, ours := strings.CutPrefix(line, scriptName+":")
		pos, msg, ok := splitPos(t.file, rest)
		if !ours || !ok || !strings.HasPrefix(msg, "panic") { // not yaegi's word on the script
			b.WriteString(line)
			continue
		}
		if t.capturing && !t.where.IsValid() {
			t.where = pos
		}
		b.WriteString(t.file + ":" + rest)
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *stderrTap) stopCapture() {
	t.mu.Lock()
	t.capturing = false
	t.mu.Unlock()
}

func (t *stderrTap) panicWhere() token.Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.where
}

// splitPos parses "line:col: msg".
func splitPos(file, s string) (token.Position, string, bool) {
	ls, rest, ok1 := strings.Cut(s, ":")
	cs, msg, ok2 := strings.Cut(rest, ":")
	line, err1 := strconv.Atoi(ls)
	col, err2 := strconv.Atoi(cs)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || line < 1 || col < 0 {
		return token.Position{}, "", false
	}
	return token.Position{Filename: file, Line: line, Column: col}, strings.TrimSpace(msg), true
}

// interpError turns an error from yaegi into a positioned error.
func interpError(s *loader.Source, err error, tap *stderrTap) error {
	file := s.File
	var p interp.Panic
	if errors.As(err, &p) {
		pe := &hotswap.PanicError{Value: p.Value, Stack: p.Stack}
		if pos := tap.panicWhere(); pos.IsValid() {
			return &loader.Error{Pos: pos, Err: fmt.Errorf("%w: %w", errEvalPanic, pe)}
		}
		// No script frame saw it: the interpreter itself gave up. Its
		// "nil type" is what it says of a range over an integer or a func
		// that unsupported could not see, the operand's type coming from
		// an import; point at such a range if there is one.
		if fmt.Sprint(p.Value) == "nil type" {
			if sus := rangeSuspects(s); len(sus) > 0 {
				return &loader.Error{Pos: sus[0], Err: fmt.Errorf("%w: %w (probably this range: yaegi %s cannot range over an integer or a func)", ErrInterpreter, pe, yaegiVersion)}
			}
		}
		return &loader.Error{Pos: token.Position{Filename: file}, Err: fmt.Errorf("%w: %w", ErrInterpreter, pe)}
	}
	var list scanner.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		errs := make([]error, 0, len(list))
		for _, e := range list {
			pos := e.Pos
			pos.Filename = file
			// "F redeclared in this block\n\tprevious declaration at x.go:4:6" on one line
			msg := strings.ReplaceAll(e.Msg, "\n\t", "; ")
			msg = strings.ReplaceAll(msg, scriptName+":", file+":")
			errs = append(errs, &loader.Error{Pos: pos, Err: fmt.Errorf("%w: %s", loader.ErrSyntax, msg)})
		}
		if len(errs) == 1 {
			return errs[0]
		}
		return joinErrors(errs)
	}
	msg := err.Error()
	if rest, ours := strings.CutPrefix(msg, scriptName+":"); ours {
		if pos, m, ok := splitPos(file, rest); ok {
			return &loader.Error{Pos: pos, Err: fmt.Errorf("%w: %s", ErrCompile, m)}
		}
	}
	// A position without a file name is in yaegi's own source of the
	// generic cmp, maps and slices funcs: one it cannot instantiate.
	if pos, m, ok := splitPos(file, strings.TrimPrefix(msg, interp.DefaultSourceName+":")); ok {
		where, call := genericCall(s)
		if call == "" {
			where, call = token.Position{Filename: file}, "a generic func of cmp, maps or slices"
		}
		return &loader.Error{Pos: where, Err: fmt.Errorf("%w: %s (at line %d of yaegi's own source of the generic standard library; yaegi %s cannot instantiate %s here)",
			ErrCompile, m, pos.Line, yaegiVersion, call)}
	}
	return &loader.Error{Pos: token.Position{Filename: file}, Err: fmt.Errorf("%w: %s", ErrCompile, msg)}
}

// genericCall returns the first call of the script to a func of cmp, maps
// or slices, the packages yaegi provides as generic source.
func genericCall(s *loader.Source) (token.Position, string) {
	names := map[string]bool{} // the names the file gives those packages
	for _, imp := range s.AST.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if slices.Contains(generic[:], ip) {
			name := ip
			if imp.Name != nil {
				name = imp.Name.Name
			}
			names[name] = true
		}
	}
	var (
		where token.Position
		call  string
	)
	ast.Inspect(s.AST, func(n ast.Node) bool {
		if call != "" {
			return false
		}
		if c, ok := n.(*ast.CallExpr); ok {
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && names[x.Name] {
					where, call = s.FileSet.Position(c.Pos()), x.Name+"."+sel.Sel.Name
				}
			}
		}
		return true
	})
	return where, call
}

// errEvalPanic words a panic in top-level code; callers match the
// *hotswap.PanicError it wraps.
var errEvalPanic = errors.New("script: top-level code panicked")

// topLevelPos returns the position of the first top-level code that runs
// at evaluation: an init func or a var initializer that calls something.
func topLevelPos(s *loader.Source) token.Position {
	for _, d := range s.AST.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name == "init" {
				return s.FileSet.Position(d.Pos())
			}
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, spec := range d.Specs {
				calls := false
				ast.Inspect(spec, func(n ast.Node) bool {
					_, isCall := n.(*ast.CallExpr)
					calls = calls || isCall
					return !calls
				})
				if calls {
					return s.FileSet.Position(spec.Pos())
				}
			}
		}
	}
	return token.Position{Filename: s.File}
}
