package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Ext is the file extension of process patches.
const Ext = ".proc"

// Loader turns plugin executables into patches whose slots call into a
// supervised subprocess. It implements [hotswap.Loader]. All methods are
// safe for concurrent use.
type Loader struct {
	opts   Options
	log    *slog.Logger
	custom *Custom             // nil for hotpatch plugins (Serve)
	mem    *callchan.MemBudget // result frames held in memory, across every process of the loader

	mu       sync.Mutex // guards dir, sockDir, spawner, versions, closed
	dir      string     // private directory: executable copies, and sockets unless sockDir is set
	sockDir  string     // sockets, when dir's path is too long for them
	spawner  *spawner   // started with the first process
	versions map[*version]struct{}
	closed   bool

	wg      sync.WaitGroup // supervisors and drains
	starts  sync.WaitGroup // starts in progress (Load, restarts)
	spawnWG sync.WaitGroup // spawn calls in progress
	done    chan struct{}  // closed by Close
}

var _ hotswap.Loader = (*Loader)(nil)

// New returns a loader of process patches (executables built with [Serve],
// usually by `hotpatch patch build --kind process`). The slots they serve
// are those of the host each Load is given.
func New(opts Options) *Loader {
	return newLoader(nil, opts)
}

func newLoader(c *Custom, opts Options) *Loader {
	opts = opts.withDefaults()
	return &Loader{
		opts:     opts,
		log:      opts.Logger,
		custom:   c,
		versions: make(map[*version]struct{}),
		mem:      callchan.NewMemBudget(callchan.DefaultResultMemory),
		done:     make(chan struct{}),
	}
}

// Kind returns hotswap.KindProcess.
func (l *Loader) Kind() hotswap.Kind { return hotswap.KindProcess }

// Match reports whether path names a process patch: a *.proc file (or the
// extension of a [Custom] plugin).
func (l *Loader) Match(path string) bool {
	return strings.EqualFold(filepath.Ext(path), l.ext())
}

func (l *Loader) ext() string {
	if l.custom != nil && l.custom.Ext != "" {
		return l.custom.Ext
	}
	return Ext
}

// Load starts the executable at path, hand-shakes with it, checks its
// health and the types of the slots it serves against the registry, and
// returns a patch whose implementations call into it. Nothing is swapped:
// hand the patch to [hotswap.Manager.Apply]. The patch's Retire hook drains
// and stops the process. The manager retires the patch once it leaves the
// stack; if Apply refuses it, the caller runs its Retire hook
// (patchdir does, with [hotswap.Manager.Release]), or the process is left
// running until Close.
//
// The executable is copied first, so that restarts run the same bytes even
// if the file is replaced or removed. A file that cannot be brought up is
// refused with a [*StartError] that holds the tail of its standard error;
// no process is left running.
func (l *Loader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	content, err := readExecutable(path, l.opts.MaxFileSize)
	if err != nil {
		return hotswap.Patch{}, err
	}
	id := loader.PatchID(path, content)
	dir, err := l.privateDir()
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("process: load %s: %w", path, err)
	}
	vdir, err := os.MkdirTemp(dir, "v-")
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("process: load %s: %w", path, err)
	}
	exe := filepath.Join(vdir, filepath.Base(path))
	if err := writeExecutable(exe, content); err != nil {
		os.RemoveAll(vdir)
		return hotswap.Patch{}, fmt.Errorf("process: load %s: %w", path, err)
	}
	v := newVersion(l, host, id, path, exe, vdir)
	in, err := l.start(ctx, v)
	if err != nil {
		os.RemoveAll(vdir)
		return hotswap.Patch{}, err
	}
	impls, err := v.bind(in)
	if err != nil {
		in.stop()
		os.RemoveAll(vdir)
		return hotswap.Patch{}, &StartError{Path: path, Err: err, Stderr: in.stderr.Tail()}
	}
	v.cur.Store(in)
	if !l.track(v) {
		in.stop()
		os.RemoveAll(vdir)
		return hotswap.Patch{}, fmt.Errorf("process: load %s: %w", path, ErrClosed)
	}
	v.log.Info("process: loaded", "source", path, "pid", in.pid(), "slots", v.slots)
	return hotswap.Patch{
		ID:       id,
		Kind:     hotswap.KindProcess,
		Source:   path,
		Impls:    impls,
		Validate: v.validate,
		Retire:   v.retire,
	}, nil
}

// readExecutable reads a regular, executable file of at most limit bytes,
// without blocking on anything else (a FIFO under the name) and refusing a
// file over the limit before reading it. The buffer is sized from the open
// file, so an executable is read with one allocation.
func readExecutable(path string, limit int64) ([]byte, error) {
	f, fi, err := patchfile.Open(path)
	if err != nil {
		if errors.Is(err, patchfile.ErrNotRegular) {
			return nil, fmt.Errorf("process: load %s: %w: %w", path, ErrNotExecutable, err)
		}
		return nil, fmt.Errorf("process: load %s: %w", path, err)
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("process: load %s: %w", path, &patchfile.SizeError{Path: path, Size: fi.Size(), Limit: limit})
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("process: load %s: %w: no execute permission (mode %v)", path, ErrNotExecutable, fi.Mode().Perm())
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("process: load %s: %w", path, err)
	}
	if int64(buf.Len()) > limit { // it grew while being read
		return nil, fmt.Errorf("process: load %s: %w", path, &patchfile.SizeError{Path: path, Size: int64(buf.Len()), Limit: limit})
	}
	return buf.Bytes(), nil
}

// writeExecutable writes an executable file that is about to be run. It
// holds syscall.ForkLock while the file is open for writing, so that no
// child forked meanwhile by another goroutine inherits the descriptor and
// makes the exec fail with "text file busy" (golang.org/issue/22315).
func writeExecutable(path string, content []byte) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, content, 0o700)
}

// privateDir returns the loader's private directory, creating it once.
func (l *Loader) privateDir() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", ErrClosed
	}
	if l.dir == "" {
		dir, err := os.MkdirTemp("", "hotpatch-process-")
		if err != nil {
			return "", err
		}
		l.dir = dir
	}
	return l.dir, nil
}

// Unix socket paths are short: 108 bytes on Linux, 104 on macOS and the
// BSDs, with the terminating NUL. Under the directory it is given,
// go-plugin creates "plugin-dirNNNNNNNNNN/pluginNNNNNNNNNN" (the call
// socket, "call.sock", is shorter).
const (
	maxSocketPath = 103
	socketSuffix  = len("/plugin-dir4294967295/plugin4294967295")
)

// socketDir returns a directory for the processes' unix sockets: the
// private directory if its paths are short enough, else one under /tmp.
// A $TMPDIR too long for a socket path would otherwise fail in the plugin
// with go-plugin's vague "Unrecognized remote plugin message".
func (l *Loader) socketDir() (string, error) {
	dir, err := l.privateDir()
	if err != nil {
		return "", err
	}
	if len(dir)+socketSuffix <= maxSocketPath {
		return dir, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sockDir != "" {
		return l.sockDir, nil
	}
	short, err := "", errors.New("no /tmp on windows")
	if runtime.GOOS != "windows" {
		short, err = os.MkdirTemp("/tmp", "hotpatch-sock-")
	}
	if err == nil && len(short)+socketSuffix > maxSocketPath {
		os.Remove(short)
		err = errors.New("still too long")
	}
	if err != nil {
		return "", fmt.Errorf("unix socket paths under the temporary directory %s would be up to %d bytes, over the limit of %d, and no shorter directory could be made under /tmp (%v): set TMPDIR to a shorter directory",
			dir, len(dir)+socketSuffix, maxSocketPath, err)
	}
	l.log.Info("process: the temporary directory's path is too long for unix sockets; they go under /tmp",
		"tmpdir", dir, "sockets", short)
	l.sockDir = short
	return short, nil
}

// beginStart counts a start in progress, unless the loader is closed.
func (l *Loader) beginStart() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.starts.Add(1)
	return true
}

// spawn runs start (an exec.Cmd's Start) on the loader's spawner thread.
func (l *Loader) spawn(start func() error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.spawner == nil {
		l.spawner = newSpawner()
	}
	s := l.spawner
	l.spawnWG.Add(1)
	l.mu.Unlock()
	defer l.spawnWG.Done()
	return s.run(start)
}

// track records a live version and starts its supervisor; it returns false
// once the loader is closed.
func (l *Loader) track(v *version) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.versions[v] = struct{}{}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		v.supervise()
	}()
	return true
}

func (l *Loader) forget(v *version) {
	l.mu.Lock()
	delete(l.versions, v)
	l.mu.Unlock()
}

// Close stops every process the loader started, at once: calls in flight
// fail with ErrProcessExited. Patches still applied keep adapters that fail
// with [ErrUnavailable]; a manager the loader is attached to closes it
// after retiring them gracefully. Close waits for the loader's goroutines
// until ctx ends (they go on stopping after that) and is safe to call more
// than once.
func (l *Loader) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- l.close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("process: close: %w", ctx.Err())
	}
}

func (l *Loader) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	close(l.done)
	vs := make([]*version, 0, len(l.versions))
	for v := range l.versions {
		vs = append(vs, v)
	}
	l.mu.Unlock()

	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Go(v.kill)
	}
	wg.Wait()
	l.starts.Wait()
	l.wg.Wait()
	l.spawnWG.Wait()
	l.mu.Lock()
	dir, sockDir, sp := l.dir, l.sockDir, l.spawner
	l.mu.Unlock()
	if sp != nil {
		sp.close()
	}
	for _, d := range []string{dir, sockDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	return nil
}

// report tells the patch's host about a failed call, once per failure.
func (l *Loader) report(v *version, slot string, err error) {
	v.log.Warn("process: call failed", "slot", slot, "err", err)
	v.host.ReportFailure(slot, err)
}

// checkSlot finds slot name in the registry and checks that a plugin's
// description of its type fits.
func (l *Loader) checkSlot(host hotswap.Host, name, gotType, gotDesc string, b *callchan.CodecBuilder) (registry.Slot, *callchan.Shape, error) {
	s, ok := host.Slot(name)
	if !ok {
		return nil, nil, fmt.Errorf("slot %q: %w (the plugin serves it; the host has no such slot)", name, hotswap.ErrUnknownSlot)
	}
	shape, err := callchan.Analyze(s.Type(), b)
	if err != nil {
		return nil, nil, fmt.Errorf("slot %q: type %v: %w", name, s.Type(), err)
	}
	if shape.Desc() != gotDesc {
		return nil, nil, &hotswap.TypeMismatchError{Slot: name, Want: s.Type(), GotName: gotType}
	}
	return s, shape, nil
}
