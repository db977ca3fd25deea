// Package script loads patches written as Go source and runs them in the
// yaegi interpreter (github.com/traefik/yaegi, v0.16.1): the "script" kind
// of [github.com/hotpatch-go/hotpatch/hotswap.Kind]. A [Loader] implements
// [github.com/hotpatch-go/hotpatch/hotswap.Loader] for *.go files, so the
// directory glue (package patchdir) or any caller can turn a file into a
// patch and hand it to [github.com/hotpatch-go/hotpatch/hotswap.Manager.Apply].
// The loader holds no registry: each Load receives the
// [github.com/hotpatch-go/hotpatch/hotswap.Host] the patch is for, looks
// its slots up there and reports the failures of its calls there.
//
// The file format is the one every kind shares (package
// [github.com/hotpatch-go/hotpatch/loader]): ordinary Go source with a
// //hotpatch:slot directive above each func that replaces a slot. The
// user's guide, with the interpreter's limits and the exact errors they
// cause, is docs/scripts.md.
//
// # Lifecycle
//
// [Loader.Load] reads the file (refusing it past Options.MaxSize before
// reading), parses and checks its directives, checks its slots against the
// host's registry and its imports against the import policy, looks for constructs
// the interpreter cannot run, then evaluates it in a fresh interpreter:
// one interpreter per version of a script, sharing nothing with the others.
// It fetches each directive's func, checks that its type is the slot's
// (a [*github.com/hotpatch-go/hotpatch/hotswap.TypeMismatchError]
// otherwise), and returns a patch whose ID is derived from the file's name
// and bytes ([github.com/hotpatch-go/hotpatch/loader.PatchID]).
//
// When the patch leaves the manager's stack, its Retire hook waits for the
// calls in flight through its funcs, closes the listeners and servers the
// script opened, and, if calls are still running when its context ends,
// stops the interpreter (they panic with [ErrStopped]) and says so;
// it never waits past its context. Otherwise the interpreter stays for
// callers that loaded a func before the swap, and is stopped once no one
// holds its funcs (ending goroutines the script started), then freed. The
// heap does not grow with the number of versions applied
// (TestMemoryPerVersion measures it: a few bytes per version, against about
// 50 KiB that each retained interpreter would cost).
//
// # Errors
//
// Every error about the file's content is a
// [*github.com/hotpatch-go/hotpatch/loader.Error] whose message starts
// with file:line:col (only file: for the size limit and the like), wrapping
// a sentinel of this package or of package loader: [ErrImportRefused],
// [ErrNoSuchImport], [ErrUnsupported], [ErrCompile], [ErrTimeout],
// [ErrTooLarge], loader.ErrSyntax, loader.ErrUnknownSlot and so on.
// Several problems are joined in source order.
//
// # Import policy
//
// A script may import the standard library as yaegi provides it (Go 1.22's
// exported API, without generic funcs) and the host packages the
// application passes in Options.Symbols (symbols for a standard package add
// to it), except what [DefaultDeny] lists: packages such as unsafe,
// syscall, os/exec and os/signal, and members such as os.StartProcess,
// os.Exit and runtime.GOMAXPROCS ("importpath.Member"). Options.Allow
// narrows what is allowed and Options.Deny replaces the deny list; both
// take exact import paths or subtrees ("example.com/shop/..."). A refused
// import or member is an [ErrImportRefused] at its line; an import with no
// symbols is [ErrNoSuchImport]. yaegi's own packages are never offered to
// scripts, and the interpreter never looks for source packages on disk:
// imports come from symbols only.
//
// Each interpreter gets private copies of the process-wide state of the
// standard library a script can reach: every exported package variable
// (a shallow copy: what a variable points to, such as *time.Local, is
// shared), fmt printing (to Options.Stdout), the standard logger (to
// Options.Stderr), flag.CommandLine and the flag funcs (flag.ExitOnError
// panics instead of exiting), os.Stdin (empty), the environment (empty), net/http's default
// mux, client and transport, and net.DefaultResolver; listeners and
// servers it opens through net.Listen* and http.ListenAndServe*/Serve*
// are closed when it is refused or retired, and its time.Sleep returns
// when its interpreter is stopped. A refused script changes nothing. This guards against accidents;
// it is not a security boundary, since a script shares the process, its
// files and its network (docs/scripts.md says exactly what the policy does
// and does not stop). Load only scripts you would compile into the server.
//
// # Host symbols
//
// For a script to call the application's own packages and use their types,
// generate their symbols with yaegi extract, in a package of the
// application, and pass them in Options.Symbols:
//
//	// Package symbols exports the shop package to patch scripts.
//	package symbols
//
//	import "reflect"
//
//	//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract github.com/you/app/shop
//
//	// Symbols are the packages above, for script.Options.Symbols.
//	var Symbols = map[string]map[string]reflect.Value{}
//
// A script then imports "github.com/you/app/shop" and works with the real
// shop types, which is what lets its funcs have exactly the slots' types.
// examples/httpserver does this.
//
// # Evaluation bounds
//
// Evaluating a script compiles it and runs its top-level code: package var
// initializers and init funcs. A script's func main is never run (yaegi
// would run it each time it evaluates anything in package main). That is
// bounded by Options.EvalTimeout and by the context passed to Load,
// whichever ends first: Load returns within it, whatever the file does. A
// script whose top-level code does not return in time is refused with
// [ErrTimeout], at the position of its first init func or var initializer
// that calls something, and its interpreter is stopped: its code ends at
// its next interpreted step, or at once if it waits in time.Sleep or on a
// channel; code blocked inside other compiled code (a host func that
// waits, a read, a mutex) ends when that call returns. A script still compiling at the
// deadline is refused too, and none of it runs.
//
// yaegi shares one loop variable across iterations, as Go did before
// 1.22; Load gives each loop whose variables a func literal captures a
// copy per iteration (see docs/scripts.md), so scripts run with Go 1.22's
// semantics.
//
// Runaway recursion would overflow the caller's stack, which is fatal to
// the process; Load refuses the recursion it can see among the script's
// funcs with [ErrRecursion] (docs/scripts.md says what it cannot see).
//
// A panic in top-level code is refused with a
// [*github.com/hotpatch-go/hotpatch/hotswap.PanicError] at the line yaegi
// reports for it; so are panics of the interpreter itself.
//
// # Calls
//
// A call through a slot served by a script enters the interpreter through
// reflection: about 12 µs and 150 allocations for a small func, against
// about 1 µs compiled (BenchmarkScriptCall, BenchmarkCompiledCall). Scripts suit logic that changes often, not inner
// loops.
//
// A panic that escapes an interpreted call continues up the caller's stack
// with the value the script panicked with, as it would from compiled code,
// so net/http's recovery and errors.Is work as usual; before that, it is
// reported once to the host (ReportFailure, for the manager's rollback
// policy) as a *hotswap.PanicError. Code above the slot (an HTTP
// middleware using hotswap's Manager.Recovered) does not count it again.
// yaegi prints the panic's script position to Options.Stderr.
//
// Options.CallTimeout, off by default, bounds each call: a call running
// longer stops the script's interpreter, and it and every later call
// through the patch panic with an error wrapping [ErrCallTimeout].
//
// Goroutines a script starts are stopped with its interpreter. A panic in
// one started with a func literal (go func() { ... }()), as go f(x) or
// go f(x, xs...), as go panic(v) or go close(ch), or in a func handed to
// time.AfterFunc, is recovered, written to Options.Stderr and, once the
// patch has served a call, reported to the host. Left as in compiled
// code, where a panic ends the process: go panic(v) or go close(ch) in a
// script that declares a name panic or close of its own anywhere.
package script
