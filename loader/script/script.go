package script

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/loader"
)

// Defaults for zero fields of [Options].
const (
	DefaultEvalTimeout = 5 * time.Second
	DefaultMaxSize     = 1 << 20 // bytes
)

// DefaultDeny returns what is refused when Options.Deny is nil: packages
// that reach around the Go memory model, out of the process or into its
// process-wide settings, and, as "importpath.Member", the members of
// otherwise useful packages that do so.
//
// It stops a script, at load time and with the line of the use, from:
// starting processes (os/exec, os.StartProcess, syscall and its Exec and
// ForkExec, net/http/cgi, and go/build and go/importer, which run the go
// command), signalling or finding processes (os.FindProcess), exiting the
// process (os.Exit, testing's Main; log.Fatal* and flag sets made with
// flag.ExitOnError panic instead, see the package documentation), taking
// over the process's file descriptors (os.NewFile), changing its working
// directory (os.Chdir), its signal handling (os/signal), its runtime
// settings (runtime.GOMAXPROCS, the profile rates, runtime/debug,
// runtime/pprof, runtime/trace, the runtime's tracer and CPU profile and
// net/http/pprof profiling, runtime.SetCgoTraceback), ending or pinning
// the caller's goroutine or thread (runtime.Goexit, runtime.LockOSThread,
// runtime.Breakpoint), crashing the process on a misuse that the runtime
// does not let anyone recover from (runtime.SetFinalizer; a
// runtime.Pinner left pinned panics in the finalizer goroutine),
// registering into process-wide
// registries that refuse a second registration (expvar, gob,
// database/sql, mime, crypto, image, net/rpc, slog's default), starting
// servers or listeners the loader cannot close (http.Server,
// net.ListenConfig, httptest servers), loading code (plugin), and
// reaching around the type system (unsafe, and reflect.NewAt, which with
// reflect.Value.UnsafePointer writes any memory, unexported fields of the
// host's values included).
//
// It does not stop a script from reading, writing or deleting files,
// opening network connections, using the CPU and memory of the process,
// calling the methods of values it can reach (os.Stdout.Close closes the
// server's stdout), or anything the host symbols (Options.Symbols) allow.
// It is a guard against accidents and unsuitable third-party code, not a
// security boundary: load only scripts you would compile into the server,
// and use a process patch for code you do not trust.
func DefaultDeny() []string {
	return []string{
		"unsafe", "syscall", "os/exec", "os/signal", "plugin", "runtime/debug", "runtime/trace", "net/http/cgi",
		"go/build", "go/importer", "testing",
		"os.StartProcess", "os.FindProcess", "os.Exit", "os.Chdir", "os.NewFile",
		"runtime.Goexit", "runtime.Breakpoint", "runtime.GOMAXPROCS", "runtime.LockOSThread", "runtime.UnlockOSThread",
		"runtime.SetFinalizer", "runtime.Pinner", "runtime.SetCgoTraceback", "reflect.NewAt",
		"runtime.StartTrace", "runtime.StopTrace", "runtime.ReadTrace", "runtime.CPUProfile",
		"runtime.SetCPUProfileRate", "runtime.SetBlockProfileRate", "runtime.SetMutexProfileFraction",
		"runtime/pprof.StartCPUProfile", "runtime/pprof.StopCPUProfile", "runtime/pprof.NewProfile",
		"net/http/pprof.Profile", "net/http/pprof.Trace",
		"log/slog.SetDefault", "log/slog.SetLogLoggerLevel",
		"expvar.Publish", "expvar.NewInt", "expvar.NewFloat", "expvar.NewMap", "expvar.NewString",
		"encoding/gob.Register", "encoding/gob.RegisterName", "database/sql.Register", "mime.AddExtensionType",
		"crypto.RegisterHash", "image.RegisterFormat",
		"net/rpc.Register", "net/rpc.RegisterName", "net/rpc.HandleHTTP",
		"net.ListenConfig", "net/http.Server",
		"net/http/httptest.Server", "net/http/httptest.NewServer", "net/http/httptest.NewTLSServer", "net/http/httptest.NewUnstartedServer",
	}
}

// Errors of the script loader. Errors about the file's content reach the
// caller inside a [*loader.Error] that says where.
var (
	ErrTooLarge      = errors.New("script: file too large")
	ErrNotRegular    = errors.New("script: not a regular file")
	ErrImportRefused = errors.New("script: import refused by the import policy")
	ErrNoSuchImport  = errors.New("script: import not available to scripts")
	ErrUnsupported   = errors.New("script: not supported by the interpreter (yaegi " + yaegiVersion + ")")
	ErrCompile       = errors.New("script: compile error")
	ErrTimeout       = errors.New("script: evaluation did not finish in time")
	ErrInterpreter   = errors.New("script: interpreter failure")
	ErrNotFuncValue  = errors.New("script: directive names something that is not a func value")
	ErrStopped       = errors.New("script: the script's interpreter was stopped")
	ErrCallTimeout   = fmt.Errorf("script: call timed out: %w", ErrStopped)
	ErrRecursion     = errors.New("script: recursion, which the interpreter cannot bound")
)

// yaegiVersion is the interpreter version this package is built and
// documented against; the limits in the docs are this version's.
const yaegiVersion = "v0.16.1"

// Options configure a [Loader]. The zero value is ready to use: a zero
// field means the matching Default.
type Options struct {
	// Symbols are the host packages scripts may import besides the standard
	// library, usually generated with yaegi extract (see the package
	// documentation). Keys are "importpath/pkgname", as yaegi extract
	// writes them. Symbols for a standard library package add to yaegi's
	// (passing yaegi's stdlib/unrestricted.Symbols adds os.StartProcess and
	// the like, still subject to Deny).
	Symbols interp.Exports

	// Allow lists the import paths scripts may import. An entry is an exact
	// path ("net/http") or a subtree ("example.com/shop/..."; "..." alone
	// matches every path). nil allows every package that has symbols: the
	// standard library as yaegi provides it, and every package in Symbols.
	Allow []string
	// Deny lists import paths refused even if allowed, with the same
	// patterns, and package members refused as "importpath.Member"
	// ("os.StartProcess", "net/http.Server": the part after the last dot
	// of the last path element, if it is an exported name). nil means
	// [DefaultDeny]; an empty non-nil slice denies nothing. To allow one
	// member of the default list, pass DefaultDeny without it.
	Deny []string

	// EvalTimeout bounds the evaluation of a script's top-level code (var
	// initializers and init funcs); the context passed to Load bounds it
	// too. Zero means DefaultEvalTimeout.
	EvalTimeout time.Duration
	// CallTimeout, if positive, bounds each call into a script. A call
	// that runs longer stops the script's interpreter: that call and every
	// other call in flight through the same patch end at their next
	// interpreted step and panic with an error wrapping [ErrCallTimeout],
	// later calls through the patch panic the same way, and the host is
	// told once ([hotswap.Host.ReportFailure]), so that a rollback policy
	// reverts the patch. A call blocked in compiled code (a host func, a
	// read, a mutex; not time.Sleep, which the loader replaces) ends only
	// when that returns. Zero, the default, and negative values mean no
	// bound: a script that loops forever keeps its caller and a CPU until
	// the patch is retired.
	CallTimeout time.Duration
	// MaxSize is the largest script accepted, in bytes, checked before the
	// file is read. Zero means DefaultMaxSize.
	MaxSize int64

	// Stdout and Stderr receive what scripts print through fmt.Print* and
	// log, and the interpreter's own panic traces. nil means os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
}

// Loader loads Go source files as script patches, each in a fresh yaegi
// interpreter. It implements [hotswap.Loader]. A Loader holds no per-patch
// state and is safe for concurrent use.
type Loader struct {
	opts   Options
	pol    *policy
	closed atomic.Bool
}

var _ hotswap.Loader = (*Loader)(nil)

// New returns a script loader. The slots its scripts replace are those of
// the host each Load is given.
func New(opts Options) *Loader {
	if opts.EvalTimeout <= 0 {
		opts.EvalTimeout = DefaultEvalTimeout
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Deny == nil {
		opts.Deny = DefaultDeny()
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	// Copy what the caller could change under us; nil and empty differ.
	if opts.Allow != nil {
		opts.Allow = append([]string{}, opts.Allow...)
	}
	opts.Deny = append([]string{}, opts.Deny...)
	return &Loader{opts: opts, pol: newPolicy(opts.Symbols, opts.Allow, opts.Deny)}
}

// Kind returns [hotswap.KindScript].
func (l *Loader) Kind() hotswap.Kind { return hotswap.KindScript }

// Match reports whether path names a script: a .go file that is not a test
// file (*_test.go).
func (l *Loader) Match(path string) bool {
	return strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go")
}

// Close refuses later loads with an error wrapping [hotswap.ErrClosed].
// Scripts already loaded are not affected: each is released by its
// patch's Retire hook. Close is safe to call more than once.
func (l *Loader) Close(context.Context) error {
	l.closed.Store(true)
	return nil
}

// Load reads, checks and evaluates the script at path and returns a patch
// for host whose implementations call into the script's own interpreter.
// It changes no slot. Errors about the file start with path:line:col where
// there is a line (see the package documentation for the checks). A panic
// that escapes a call into the script is reported to host once, before it
// goes on up the caller's stack.
func (l *Loader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if l.closed.Load() {
		return hotswap.Patch{}, fmt.Errorf("script: load %s: %w", path, hotswap.ErrClosed)
	}
	src, err := l.read(path)
	if err != nil {
		return hotswap.Patch{}, err
	}
	s, err := loader.Parse(path, src)
	if err != nil {
		return hotswap.Patch{}, err
	}
	if err := s.CheckSlots(func(name string) error {
		if _, ok := host.Slot(name); !ok {
			return hotswap.ErrUnknownSlot
		}
		return nil
	}); err != nil {
		return hotswap.Patch{}, err
	}
	if err := l.pol.check(s); err != nil {
		return hotswap.Patch{}, err
	}
	if err := unsupported(s); err != nil {
		return hotswap.Patch{}, err
	}
	if err := recursion(s); err != nil {
		return hotswap.Patch{}, err
	}
	edits, err := loopCopies(s)
	if err != nil {
		return hotswap.Patch{}, err
	}
	guards := goroutineGuards(s)
	id := loader.PatchID(path, src)
	impls, ver, err := l.eval(ctx, host, id, s, applyEdits(string(src), append(edits, guards...)), guards != nil)
	if err != nil {
		return hotswap.Patch{}, err
	}
	return hotswap.Patch{ID: id, Kind: hotswap.KindScript, Source: path, Impls: impls, Retire: ver.retire}, nil
}

// read returns the file's bytes, refusing what is too large before reading
// it. The limit applies to what is read too, in case the file grows between
// the stat and the read.
func (l *Loader) read(path string) ([]byte, error) {
	where := token.Position{Filename: path}
	// Without blocking: a FIFO named like a script would otherwise hold
	// the open, and the directory watch behind it, until a writer comes.
	f, fi, err := patchfile.Open(path)
	if errors.Is(err, patchfile.ErrNotRegular) {
		mode := "not a regular file"
		if st, serr := os.Stat(path); serr == nil {
			mode = st.Mode().Type().String()
		}
		return nil, &loader.Error{Pos: where, Err: fmt.Errorf("%w (%v)", ErrNotRegular, mode)}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := func(n int64) error {
		return &loader.Error{Pos: where, Err: fmt.Errorf("%w: %d bytes or more, the limit is %d (Options.MaxSize)", ErrTooLarge, n, l.opts.MaxSize)}
	}
	if fi.Size() > l.opts.MaxSize {
		return nil, tooLarge(fi.Size())
	}
	src, err := io.ReadAll(io.LimitReader(f, l.opts.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(src)) > l.opts.MaxSize {
		return nil, tooLarge(int64(len(src)))
	}
	return src, nil
}
