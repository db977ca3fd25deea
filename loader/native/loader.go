package native

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"plugin"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// DefaultMaxMemory is the default cap on the memory that loaded native
// patches may take: 256 MiB.
const DefaultMaxMemory = 256 << 20

// Options configure a [Loader]. The zero value is ready to use: a zero field
// means the matching default.
type Options struct {
	// MaxMemory caps the bytes of address space that opened patches take
	// (the page-rounded size of their loadable segments, summed). A patch
	// that would take the total past it is refused with [ErrMemoryCap].
	// Zero means DefaultMaxMemory.
	MaxMemory int64

	// Dir is where the loader writes the private copy of each patch it
	// opens, removed once it is mapped (see the package documentation). It
	// must be on a file system that allows executable mappings (not mounted
	// noexec). "" means a directory of mode 0700 in os.TempDir() named
	// after the user and the process, shared by the loaders of the process.
	// A relative path is made absolute by New.
	Dir string

	// Logger receives warnings, such as a redirection whose target has no
	// direct call left in the binary (every call site was inlined, so the
	// redirection changes nothing there). nil discards them.
	Logger *slog.Logger
}

// Loader loads native patches: Go plugins built by `hotpatch patch build`
// against the running binary. It implements [hotswap.Loader]. All methods
// are safe for concurrent use.
//
// One Loader per process is the intended use: the memory it counts and the
// redirections it stacks are its own, while the plugins it opens are the
// process's for good.
type Loader struct {
	opts     Options
	redirect redirectFunc // redirect.Redirect; a field so the table can be tested without rewriting code

	fpOnce sync.Once
	fp     fingerprint.Record // fingerprint of the running binary, read once
	fpErr  error

	srcOnce sync.Once
	src     fingerprint.Sources // source record of the running binary, read once
	srcOK   bool                // whether it has one
	srcErr  error               // why a record it has cannot be read

	log *slog.Logger

	mu     sync.Mutex         // serializes opens; guards the fields below
	used   int64              // bytes mapped by opened patches, failed opens that mapped included
	opened map[string]*opened // by plugin path
	closed bool

	redirects redirTable
	host      hostFuncs // the running executable's functions, read at the first redirect
}

// opened is one distinct patch file the loader has handed to plugin.Open.
type opened struct {
	p     *plugin.Plugin    // nil when the open failed
	err   error             // why it failed; Go refuses a second attempt anyway
	sum   [sha256.Size]byte // of the file
	paths []string          // the names it was loaded under
}

// New returns a native loader. The slots its patches serve are those of the
// host each Load is given.
func New(opts Options) *Loader {
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Dir != "" {
		// Made absolute now: a chdir of the process later must not move it.
		if abs, err := filepath.Abs(opts.Dir); err == nil {
			opts.Dir = abs
		}
	}
	return &Loader{
		opts:      opts,
		redirect:  func(target, replacement any) (restorer, error) { return nativeRedirect(log, target, replacement) },
		log:       log,
		opened:    make(map[string]*opened),
		redirects: redirTable{targets: make(map[uintptr]*redirTarget)},
	}
}

// Kind returns [hotswap.KindNative].
func (l *Loader) Kind() hotswap.Kind { return hotswap.KindNative }

// Match reports whether path names a native patch: a ".so" file.
func (l *Loader) Match(path string) bool { return strings.HasSuffix(path, Ext) }

// Memory returns the bytes of address space taken by the patches this
// loader opened, and the cap (Options.MaxMemory).
func (l *Loader) Memory() (used, limit int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used, l.opts.MaxMemory
}

// Close refuses later loads with [ErrClosed] and removes the default
// private directory if it is empty (another loader may still use it).
// Patches already loaded keep working: their code stays mapped for the
// life of the process. Close is safe to call more than once; it does not
// block.
func (l *Loader) Close(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed && l.opts.Dir == "" {
		_ = os.Remove(defaultDir())
	}
	l.closed = true
	return nil
}

// Load checks the native patch at path and opens it. In order, each
// refusal naming the file:
//
//  1. the file must be an ELF shared object with the manifest section
//     ([ErrNotPatch], [ErrBadManifest]); it is read once, into memory, and
//     every later step uses those bytes;
//  2. the baseline fingerprint in the manifest must equal the running
//     binary's, and the source record of the packages the patch links
//     must agree with the running binary's own, where it has one (see
//     [fingerprint.Sources]) ([*BaselineError], listing what differs); a
//     record the binary carries but that cannot be read refuses every
//     patch ([ErrBaselineMismatch], saying the record is malformed);
//  3. every slot it serves must exist ([hotswap.ErrUnknownSlot]);
//  4. the memory of opened patches plus this one must stay within
//     Options.MaxMemory ([ErrMemoryCap]);
//  5. only then is a private copy opened with plugin.Open; Go's own
//     refusals become readable ([*BaselineError] for "plugin was built
//     with a different version of package", [ErrOpen] otherwise);
//  6. the exports must be there and well-typed ([ErrNoExport],
//     [ErrBadExport]), and each implementation's type must be its slot's
//     ([*hotswap.TypeMismatchError]).
//
// The returned patch's Validate hook makes its redirections (if it carries
// any) and its Retire hook restores them; the code itself stays mapped.
//
// Each implementation and each redirect replacement is served through the
// typed wrapper that `hotpatch patch build` generated into the plugin
// ([SymbolWrap]): a panic escaping it is reported once to host
// ([hotswap.Host.ReportFailure], for the manager's rollback policy) before
// it goes on up the caller's stack with the same value, as the other kinds
// do. A wrapper costs a deferred call, a few nanoseconds, and allocates
// nothing (see BenchmarkNativeCall). A patch built without wrappers (by an
// older build) is refused with [ErrNoExport], saying to build it again.
func (l *Loader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if err := supported(); err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	// The file is opened without blocking (a FIFO put in its place must
	// not hang the load) and its size is checked before a byte is read.
	data, _, err := patchfile.ReadFile(path, l.opts.MaxMemory)
	if se := (*patchfile.SizeError)(nil); errors.As(err, &se) {
		return hotswap.Patch{}, fmt.Errorf("%s: %w: the file alone (%s) is larger than the cap (%s)", path, ErrMemoryCap, mib(se.Size), mib(l.opts.MaxMemory))
	}
	if err != nil {
		return hotswap.Patch{}, err
	}
	info, err := inspect(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	m := info.Manifest
	running, err := l.fingerprint()
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: fingerprint of the running binary: %w", path, err)
	}
	sources, recorded, err := l.sources()
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	if m.Baseline.Hash() != running.Hash() {
		return hotswap.Patch{}, &BaselineError{File: path, Differences: fingerprint.Diff(m.Baseline, running), Unrecorded: !recorded}
	}
	if diffs := fingerprint.DiffSources(m.Sources, sources); len(diffs) > 0 {
		return hotswap.Patch{}, &BaselineError{File: path, Differences: diffs}
	}
	var errs []error
	for _, name := range m.SlotNames() {
		if _, ok := host.Slot(name); !ok {
			errs = append(errs, fmt.Errorf("slot %q: %w", name, hotswap.ErrUnknownSlot))
		}
	}
	if len(errs) > 0 {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, joinErrors(errs...))
	}
	if !exports(data, m.Package, SymbolWrap) {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, errNoWrap)
	}
	if err := ctx.Err(); err != nil {
		return hotswap.Patch{}, err
	}
	// Hash while the private copy is written: the hash is for the patch ID
	// and to recognize the same build loaded again.
	var sum [sha256.Size]byte
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		sum = sha256.Sum256(data)
	}()
	hash := func() [sha256.Size]byte { <-hashed; return sum }
	p, err := l.open(path, data, hash, info)
	<-hashed
	if err != nil {
		return hotswap.Patch{}, err
	}
	id := patchID(path, sum)
	impls, redirects, err := l.exports(host, path, p, m, newReporter(host, id, m))
	if err != nil {
		return hotswap.Patch{}, err
	}
	patch := hotswap.Patch{
		ID:       id,
		Kind:     hotswap.KindNative,
		Source:   path,
		Baseline: m.Baseline.Hash(),
		Impls:    impls,
	}
	if len(redirects) > 0 {
		set := &redirectSet{list: redirects}
		patch.Validate = func(context.Context) error { return l.redirects.push(set, l.redirect) }
		patch.Retire = func(context.Context) error { return l.redirects.pop(set, l.redirect) }
	}
	return patch, nil
}

func (l *Loader) fingerprint() (fingerprint.Record, error) {
	l.fpOnce.Do(func() { l.fp, l.fpErr = fingerprint.Fingerprint() })
	return l.fp, l.fpErr
}

// sources returns the source record of the running binary, read once,
// and whether it has one. Without one (a binary not built with `hotpatch
// build`), nothing can tell whether a patch was built from the source the
// binary was built from; that is logged once, and patches load as before.
// A record that is there but malformed is an error for every native
// patch: it was damaged after the build, and loading unchecked is what the
// record is for.
func (l *Loader) sources() (fingerprint.Sources, bool, error) {
	l.srcOnce.Do(func() {
		s, err := manifest.RunningSources()
		switch {
		case errors.Is(err, manifest.ErrNoSources):
			l.log.Warn("native: the running binary carries no source record, so native patches cannot be checked "+
				"against the source it was built from: a package edited after the build would load unnoticed; "+
				"build the server with `hotpatch build`", "err", err)
		case err != nil && !errors.Is(err, manifest.ErrBad):
			// The file cannot be read (a binary mode 0711, say): whether it
			// carries a record is unknown, and loading goes on as without one.
			l.log.Warn("native: the running binary's file cannot be read for its source record, so native patches "+
				"cannot be checked against the source it was built from", "err", err)
		case err != nil:
			l.srcErr = fmt.Errorf("%w: the record of the source the running binary was built from cannot be read (%w), "+
				"so no native patch can be checked against it: the file was changed after `hotpatch build`; "+
				"build the server again with `hotpatch build` and restart", ErrBaselineMismatch, err)
		default:
			l.src, l.srcOK = s, true
		}
	})
	return l.src, l.srcOK, l.srcErr
}

// open opens the patch through a private copy, once per build, and counts
// its memory.
//
// Why a copy: plugin.Open caches plugins by path, so a new version written
// over the same name would silently open as the old one; and a mapped file
// changed in place crashes the process (SIGBUS) when the change is read.
// The copy is written from the bytes that were checked, opened, and
// removed: the mapping keeps its inode alive and nobody else can reach it.
// It is named after the build's unique ID, so that two loaders of the
// process that open the same build use the same path, and Go's plugin
// cache gives the second one the plugin the first opened.
func (l *Loader) open(path string, data []byte, hash func() [sha256.Size]byte, info soInfo) (*plugin.Plugin, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("%s: %w", path, ErrClosed)
	}
	// Go refuses a second plugin with the same plugin path, so that is the
	// key; the content must be the same too.
	key := info.Manifest.Package
	if o := l.opened[key]; o != nil {
		if o.sum != hash() {
			return nil, fmt.Errorf("%s: %w: another file of the same build (plugin path %s) is already loaded, "+
				"with other content: the file was modified after it was built", path, ErrOpen, key)
		}
		if o.err != nil {
			return nil, o.err
		}
		if !slices.Contains(o.paths, path) {
			// Not an error: in a patch directory both files are there, so
			// both apply, and removing one leaves the other serving. But
			// it is rarely meant.
			l.log.Warn("native: this build is already loaded under another name: the two files apply the same patch twice",
				"file", path, "loaded", strings.Join(o.paths, ", "), "id", info.Manifest.ID)
			o.paths = append(o.paths, path)
		}
		return o.p, nil // the same build, already open: no new memory
	}
	if l.used+info.Mapped > l.opts.MaxMemory {
		return nil, fmt.Errorf("%s: %w: it needs %s, %s of %s are taken by the %d patches opened so far, "+
			"and Go plugins are never unmapped (Options.MaxMemory)",
			path, ErrMemoryCap, mib(info.Mapped), mib(l.used), mib(l.opts.MaxMemory), len(l.opened))
	}
	dir, err := l.privateDir()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cp := filepath.Join(dir, info.Manifest.ID+Ext)
	if err := os.WriteFile(cp, data, 0o500); err != nil {
		return nil, fmt.Errorf("%s: private copy: %w", path, err)
	}
	p, err := openPlugin(cp)
	mapped := err == nil || isMapped(cp)
	_ = os.Remove(cp)
	if mapped {
		l.used += info.Mapped
	}
	if err != nil {
		err = l.openError(path, cp, err)
		if be := (*BaselineError)(nil); errors.As(err, &be) {
			_, recorded, _ := l.sources()
			be.Unrecorded = !recorded
		}
		if mapped {
			l.opened[key] = &opened{err: err, sum: hash(), paths: []string{path}}
		}
		return nil, err
	}
	l.opened[key] = &opened{p: p, sum: hash(), paths: []string{path}}
	return p, nil
}

// openPlugin is plugin.Open, with a panic of the plugin's init functions
// turned into an error (a *hotswap.PanicError): a patch that panics while
// it initializes is refused, and the process goes on.
//
// Go's plugin cache keeps such a plugin under its path as still loading,
// for good: a later plugin.Open of the same path waits for an end of its
// init that never comes. Loaders of one process share the paths of their
// private copies (see privateDir), so the panic is kept here, by path, and
// returned again instead; and opens are serialized, so that no open of a
// path starts while its init runs.
func openPlugin(path string) (p *plugin.Plugin, err error) {
	initPanics.mu.Lock()
	defer initPanics.mu.Unlock()
	if err := initPanics.byPath[path]; err != nil {
		return nil, err
	}
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, &hotswap.PanicError{Value: v, Stack: debug.Stack()}
			if initPanics.byPath == nil {
				initPanics.byPath = make(map[string]error)
			}
			initPanics.byPath[path] = err
		}
	}()
	return plugin.Open(path)
}

// initPanics is package-level because Go's plugin cache, whose gap it
// closes, is process-wide (see openPlugin).
var initPanics struct {
	mu     sync.Mutex       // serializes plugin opens; guards byPath
	byPath map[string]error // by private copy path: the panic of its init
}

// privateDir returns the directory of private copies, making it if need
// be. The default is the same for every Loader of the process, so that two
// loaders that open the same bytes write them to the same path and Go's
// plugin cache hands the second one the plugin the first opened (a second
// plugin.Open of the same plugin path from another file is refused).
func (l *Loader) privateDir() (string, error) {
	if l.opts.Dir != "" {
		return l.opts.Dir, os.MkdirAll(l.opts.Dir, 0o700)
	}
	dir := defaultDir()
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	// The name is predictable: accept it only as a real directory of ours
	// that nobody else can write to.
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ownedByUs(fi) {
		return "", fmt.Errorf("private directory %s is not a directory of mode 0700 owned by this user; set Options.Dir", dir)
	}
	return dir, nil
}

func defaultDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("hotpatch-native-%d-%d", os.Getuid(), os.Getpid()))
}

// openError turns an error of plugin.Open into one that says what to do.
func (l *Loader) openError(path, cp string, err error) error {
	msg := strings.ReplaceAll(err.Error(), cp, path)
	const pkgPrefix = "plugin was built with a different version of package "
	switch {
	case strings.Contains(msg, pkgPrefix):
		pkg := msg[strings.Index(msg, pkgPrefix)+len(pkgPrefix):]
		return &BaselineError{File: path, Package: strings.TrimSpace(pkg)}
	case strings.Contains(msg, "plugin already loaded"):
		return fmt.Errorf("%s: %w: a plugin with the same plugin path is already loaded "+
			"(`hotpatch patch build` gives each build a unique one; was this file built another way?)", path, ErrOpen)
	case errors.As(err, new(*hotswap.PanicError)):
		return fmt.Errorf("%s: %w: its initialization panicked: %w", path, ErrOpen, err)
	case strings.Contains(msg, "not implemented"):
		return fmt.Errorf("%s: %w: %s", path, ErrNotSupported, msg)
	}
	return fmt.Errorf("%s: %w: %s", path, ErrOpen, msg)
}

// exports looks up and checks what the patch exports, and returns its
// implementations and redirections in the wrappers that report to rep.
func (l *Loader) exports(host hotswap.Host, path string, p *plugin.Plugin, m manifest.Manifest, rep reporter) (map[string]any, []*redirectEntry, error) {
	sym, err := p.Lookup(SymbolBaseline)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: no %s", path, ErrNoExport, SymbolBaseline)
	}
	text, ok := sym.(*string)
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w: %s is %T, want string", path, ErrBadExport, SymbolBaseline, sym)
	}
	var rec fingerprint.Record
	if err := rec.UnmarshalText([]byte(*text)); err != nil || rec.Hash() != m.Baseline.Hash() {
		return nil, nil, fmt.Errorf("%s: %w: %s disagrees with the manifest section", path, ErrBadExport, SymbolBaseline)
	}

	sym, err = p.Lookup(SymbolSlots)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: no %s", path, ErrNoExport, SymbolSlots)
	}
	slotsVar, ok := sym.(*map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w: %s is %T, want map[string]any", path, ErrBadExport, SymbolSlots, sym)
	}
	if got := slices.Sorted(maps.Keys(*slotsVar)); !slices.Equal(got, m.SlotNames()) {
		return nil, nil, fmt.Errorf("%s: %w: %s serves %v, the manifest says %v", path, ErrBadExport, SymbolSlots, got, m.SlotNames())
	}
	var errs []error
	for _, name := range m.SlotNames() {
		s, _ := host.Slot(name) // existence checked before opening
		if got := reflect.TypeOf((*slotsVar)[name]); got != s.Type() {
			errs = append(errs, &hotswap.TypeMismatchError{Slot: name, Want: s.Type(), Got: got})
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s: %w", path, joinErrors(errs...))
	}

	sym, err = p.Lookup(SymbolWrap)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, errNoWrap)
	}
	wrap, ok := sym.(func(slot, redirect func(string, any)) (map[string]any, map[string]any))
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w: %s is %T, want func(slot, redirect func(string, any)) (map[string]any, map[string]any)",
			path, ErrBadExport, SymbolWrap, sym)
	}
	impls, wrappedRedirects := wrap(rep.slot, rep.redirect)
	if got := slices.Sorted(maps.Keys(impls)); !slices.Equal(got, m.SlotNames()) {
		return nil, nil, fmt.Errorf("%s: %w: %s wraps %v, the manifest says %v", path, ErrBadExport, SymbolWrap, got, m.SlotNames())
	}
	for _, name := range m.SlotNames() {
		if got, want := reflect.TypeOf(impls[name]), reflect.TypeOf((*slotsVar)[name]); got != want {
			return nil, nil, fmt.Errorf("%s: %w: %s wraps slot %s as %v, its implementation is %v", path, ErrBadExport, SymbolWrap, name, got, want)
		}
	}

	redirects, err := l.redirectsOf(p, m, wrappedRedirects)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return impls, redirects, nil
}

// redirectsOf reads and checks the optional redirect table, and resolves
// each target to the running binary's own function of that name (see
// hostFuncs for why the plugin's value cannot be used as it is). Each
// replacement is its wrapper from wrapped where the build made one (a
// replacement that is not a func declared in the patch has none: the
// build warned that its panics are not reported).
func (l *Loader) redirectsOf(p *plugin.Plugin, m manifest.Manifest, wrapped map[string]any) ([]*redirectEntry, error) {
	sym, err := p.Lookup(SymbolRedirects)
	if err != nil {
		if len(m.Redirects) > 0 {
			return nil, fmt.Errorf("%w: no %s, the manifest lists %v", ErrNoExport, SymbolRedirects, m.Redirects)
		}
		return nil, nil
	}
	table, ok := sym.(*map[string][2]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is %T, want map[string][2]any", ErrBadExport, SymbolRedirects, sym)
	}
	if got := slices.Sorted(maps.Keys(*table)); !slices.Equal(got, m.Redirects) {
		return nil, fmt.Errorf("%w: %s redirects %v, the manifest says %v", ErrBadExport, SymbolRedirects, got, m.Redirects)
	}
	for name := range wrapped {
		if !slices.Contains(m.Redirects, name) {
			return nil, fmt.Errorf("%w: %s wraps redirect %s, which the manifest does not list", ErrBadExport, SymbolWrap, name)
		}
	}
	var out []*redirectEntry
	var errs []error
	for _, name := range m.Redirects {
		pair := (*table)[name]
		if w, ok := wrapped[name]; ok {
			pair[1] = w
		}
		t, r := reflect.ValueOf(pair[0]), reflect.ValueOf(pair[1])
		switch {
		case t.Kind() != reflect.Func || t.IsNil() || r.Kind() != reflect.Func || r.IsNil():
			errs = append(errs, fmt.Errorf("redirect %s: %w: want {target, replacement} funcs, have {%T, %T}", name, ErrBadExport, pair[0], pair[1]))
		case t.Type() != r.Type():
			errs = append(errs, fmt.Errorf("redirect %s: %w: target is %v, replacement is %v", name, ErrBadExport, t.Type(), r.Type()))
		default:
			fn := runtime.FuncForPC(t.Pointer())
			if fn == nil {
				errs = append(errs, fmt.Errorf("redirect %s: %w: the target is not a known function", name, ErrBadExport))
				continue
			}
			entry, err := l.host.lookup(fn.Name())
			if err != nil {
				errs = append(errs, fmt.Errorf("redirect %s: %w: %w", name, ErrRedirect, err))
				continue
			}
			out = append(out, &redirectEntry{name: name, target: funcAt(t.Type(), entry), replacement: pair[1], entry: entry})
		}
	}
	return out, joinErrors(errs...)
}

// patchID is [loader.PatchID] of a file whose SHA-256 is already known:
// the file is hashed once, not twice.
func patchID(path string, sum [sha256.Size]byte) string {
	return filepath.Base(path) + "-" + hex.EncodeToString(sum[:6])
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// reporter is what a patch's wrappers report the panics escaping its code
// to: the funcs handed to its [SymbolWrap].
type reporter struct {
	slot     func(slot string, v any) // a panic of a slot's implementation
	redirect func(name string, v any) // a panic of a redirect's replacement
}

// newReporter returns the reporter of the patch id loaded for host with
// manifest m. Each panic is reported to host once, as an error wrapping a
// *hotswap.PanicError whose Value is the value the wrapper panics again
// with, so that [hotswap.Manager.Recovered] in a middleware above does not
// count it again. http.ErrAbortHandler is how a handler aborts a response
// on purpose, not a failure: it goes on unreported. (runtime.Goexit never
// reaches a reporter: the wrapper tells it from a panic by the stack. A
// panic(nil) under GODEBUG=panicnil=1 does, with the value nil.) The
// report's text is made here, once, and making it never panics.
//
// A wrapper that recovers the panic another wrapper below it reported and
// panicked again with (a patch's slot calling another slot, or a
// redirected function, that panicked) reports nothing: one failure, counted
// once, against the code that failed (see repanicked).
//
// A redirect's replacement serves no slot of its own, and the manager
// counts failures per patch through the slots it serves: its panic is
// reported under the first slot (by name) the patch serves, so that a
// patch whose redirection keeps panicking is rolled back as one whose
// slot does, which also restores the redirection.
func newReporter(host hotswap.Host, id string, m manifest.Manifest) reporter {
	var first string
	if names := m.SlotNames(); len(names) > 0 {
		first = slices.Min(names)
	}
	return reporter{
		slot: func(slot string, v any) {
			if v == http.ErrAbortHandler || repanicked() {
				return
			}
			host.ReportFailure(slot, newPanicReport("native "+id+": ", v))
		},
		redirect: func(name string, v any) {
			if v == http.ErrAbortHandler || repanicked() {
				return
			}
			host.ReportFailure(first, newPanicReport("native "+id+": redirected "+name+": ", v))
		},
	}
}

// panicReport is the error a reporter reports: a *hotswap.PanicError with
// the loader's prefix. Its text is made once, when it is reported, by
// describe: a report func runs in a wrapper's deferred recover, and must
// not panic there, which would replace the patch's panic value on its way
// up and lose the report.
type panicReport struct {
	msg string
	pe  *hotswap.PanicError
}

func newPanicReport(prefix string, v any) *panicReport {
	return &panicReport{msg: prefix + "panic: " + describe(v), pe: &hotswap.PanicError{Value: v, Stack: debug.Stack()}}
}

func (r *panicReport) Error() string { return r.msg }
func (r *panicReport) Unwrap() error { return r.pe }

// describe returns v as %v prints it, or, where that panics (an Error or
// String method that panics with a value whose own method panics too,
// which fmt does not survive), what v is.
func describe(v any) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("a %T value (its Error or String method panics)", v)
		}
	}()
	return fmt.Sprint(v)
}

// wrapperRecover is how the runtime names the generated recover of a
// patch's wrappers: <module>/.hotpatch/build/<build ID>.hotpatchRecover
// (see internal/patchbuild).
const (
	wrapperPkg     = "/.hotpatch/build/"
	wrapperRecover = ".hotpatchRecover"
)

// repanicked reports whether the panic a report func is handed is a
// wrapper's panicking again with what it has reported: the frame that
// panicked, the first below the reporting wrapper's recover that is not
// the runtime's (nor the compiler's wrapper of a deferred call), is another
// wrapper's recover. A panic that user code in between recovered and
// replaced by another value is reported again: the frame that panicked is
// then that code's. It runs only on the panic path.
//
//go:noinline
func repanicked() bool {
	var pcs [32]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	own := false
	for {
		f, more := frames.Next()
		switch {
		case !own:
			own = isWrapperRecover(f.Function) // the reporting wrapper's
		case !strings.HasPrefix(f.Function, "runtime.") && !strings.Contains(f.Function, ".deferwrap"):
			return isWrapperRecover(f.Function)
		}
		if !more {
			return false
		}
	}
}

func isWrapperRecover(fn string) bool {
	return strings.HasSuffix(fn, wrapperRecover) && strings.Contains(fn, wrapperPkg)
}
