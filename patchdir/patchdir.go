package patchdir

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/watcher"
)

// Defaults for zero fields of [Options].
const (
	// DefaultLoadTimeout bounds one Loader.Load call made by a [Dir].
	DefaultLoadTimeout = 30 * time.Second
	// DefaultParallel is how many files a [Dir] loads at once.
	DefaultParallel = 4
)

// Events of the directory watch.
const (
	// EventWatchError records an error of the directory watch itself (the
	// directory vanished, the event queue overflowed); the watch keeps
	// running where it can.
	EventWatchError hotswap.EventType = "watch-error"
	// EventWatchResumed records that the patch directory, removed or
	// renamed before, is back and watched again, or that its name (a
	// symlink) now leads to another directory; its files are applied.
	EventWatchResumed hotswap.EventType = "watch-resumed"
)

// Errors of the directory watch.
var (
	// ErrLoadAbandoned is the reason recorded for a file whose load did
	// not return within its bound: [Options.LoadTimeout], then a grace of
	// min(2 s, LoadTimeout) after its context ended.
	ErrLoadAbandoned = errors.New("patchdir: load did not return after its context ended; abandoned")
	// ErrNoLoaders is returned by [Watch] for a manager with no loader
	// attached.
	ErrNoLoaders = errors.New("patchdir: the manager has no loader attached")
)

// abandonGrace is how long a load may run on after its context ended
// (LoadTimeout, or Close) before it is abandoned; at most LoadTimeout.
const abandonGrace = 2 * time.Second

// Options configure [Watch]. The zero value is ready to use: a zero field
// means its default, and a negative MaxFileSize turns that limit off.
type Options struct {
	// Debounce is how long a file must stay quiet before it is loaded;
	// zero means watcher.DefaultDebounce.
	Debounce time.Duration
	// LoadTimeout bounds each load (interpreting a script, starting a
	// process) and apply; zero means DefaultLoadTimeout. A load that does
	// not return soon after (it ignores its context) is abandoned with
	// [ErrLoadAbandoned], and bounds Close too.
	LoadTimeout time.Duration
	// MaxFileSize is the largest patch file considered, in bytes; a larger
	// one is refused from its size before it is read. Zero means
	// watcher.DefaultMaxSize; negative means no limit here (loaders keep
	// their own limits).
	MaxFileSize int64
	// Parallel is how many files are loaded at once; zero means
	// DefaultParallel. Loads of one file never overlap.
	Parallel int
	// Known, if set, is asked about every file before it is loaded, with
	// its path and the SHA-256 of the content the watcher saw settle.
	// skip false: the file loads and applies as usual. skip true with an
	// id: a patch from that very content is applied already (a journal
	// re-applied it after a restart); the file is not loaded, and counts
	// as applied under id, so an edit replaces that patch and a removal
	// reverts it. skip true without an id: the content stays unapplied
	// (it was superseded by a new baseline) until the file changes, and
	// a patch applied from an earlier content of the file is reverted. It
	// runs on the watch's workers, concurrently: it must not block.
	Known func(path string, sum [sha256.Size]byte) (id string, skip bool)
	// Check, if set, is asked before every load, with the file's path; an
	// error refuses the file (a rejected event with it) and what served
	// before keeps serving. A refused file is checked again every
	// [RecheckInterval], quietly, until Check passes (it is then loaded)
	// or the file changes; a recheck runs Check alone, without reading
	// the file, until it passes, and files that pass together apply in
	// the order of their names, as at start: a fix that changes no content (chmod go-w)
	// takes effect without touching the file. The root package checks
	// there that the directory and the file are ones that only their
	// owner may write, as at start. It runs on the watch's workers,
	// concurrently: it must not block.
	Check func(path string) error
}

// Dir feeds the files of one patch directory through the loaders attached
// to a manager into it. Create it with [Watch].
type Dir struct {
	m       *hotswap.Manager
	w       *watcher.Watcher
	dir     string
	loaders []hotswap.Loader
	opts    Options
	slots   chan struct{} // one token per load running, Parallel at most

	mu    sync.Mutex        // guards files
	files map[string]string // file name -> ID of the patch applied from it

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan workDone  // a worker finished; read by run
	exited    chan struct{}  // closed when run returned
	workers   sync.WaitGroup // per-file workers
	closeOnce sync.Once
	closeErr  error
}

// Watch watches dir and keeps the manager m in step with it, through the
// loaders attached to m ([hotswap.Manager.Attach]) when Watch is called:
// each file goes to the first of them whose Match accepts its name.
//
//   - a file that appears is loaded and applied;
//   - a file that changes is loaded and applied in place of its previous
//     version, in one swap ([Patch.Replaces]), so no moment serves the
//     baseline by accident;
//   - a file that disappears, or grows past [Options.MaxFileSize], is
//     reverted.
//
// Files already in dir are applied at start, once the first scan of dir is
// complete, in the order of their names: when several files provide one
// slot, the last name serves it. Later, a
// slot serves the file whose change was applied last. Files are loaded
// concurrently ([Options.Parallel]); a load that hangs holds up no
// other file, except, at start, the applies of the names after it, until it
// is abandoned.
//
// A file is loaded only if it holds the content the watcher saw settle,
// before and after the load; one caught changing is looked at again after
// the debounce period (backing off up to 5 s) until it holds that content
// again or the watcher reports what it holds now.
//
// A file that fails to load or apply is refused with an event naming the
// file (and line, where the loader knows it); whatever served before keeps
// serving, and the watch goes on. If dir is removed or renamed, its patches
// are reverted and the watch waits for it to come back, then applies what
// it holds (an [EventWatchResumed]). The watch stops when ctx ends, when
// the manager closes, or on [Dir.Close]; patches it applied stay applied
// (the manager's Close reverts them).
func Watch(ctx context.Context, m *hotswap.Manager, dir string, opts Options) (*Dir, error) {
	loaders := m.Loaders()
	if len(loaders) == 0 {
		return nil, fmt.Errorf("patchdir: watch %s: %w", dir, ErrNoLoaders)
	}
	select {
	case <-m.Done():
		return nil, fmt.Errorf("patchdir: watch %s: %w", dir, hotswap.ErrClosed)
	default:
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	switch {
	case opts.MaxFileSize == 0:
		opts.MaxFileSize = watcher.DefaultMaxSize
	case opts.MaxFileSize < 0:
		opts.MaxFileSize = 0 // no limit, for the watcher and for sameContent
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	var reported sync.Map // names whose Match panic was reported
	match := func(name string) bool {
		for _, l := range loaders {
			ok, err := matches(l, name)
			if err != nil {
				// The watcher's goroutine: report once per name, ignore it.
				if _, seen := reported.LoadOrStore(name, true); !seen {
					_ = m.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: l.Kind(),
						Source: filepath.Join(dir, name), Err: fmt.Errorf("loader's Match: %w", err)})
				}
				return false
			}
			if ok {
				return true
			}
		}
		return false
	}
	w, err := watcher.New(dir, watcher.Options{Debounce: opts.Debounce, Match: match, MaxSize: opts.MaxFileSize})
	if err != nil {
		return nil, fmt.Errorf("patchdir: watch %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &Dir{
		m: m, w: w, dir: dir, loaders: loaders, opts: opts,
		slots:  make(chan struct{}, opts.Parallel),
		files:  make(map[string]string),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan workDone),
		exited: make(chan struct{}),
	}
	go d.run()
	return d, nil
}

// Close stops the watch and waits for it: for loads in progress, each
// ended or abandoned within min(2 s, LoadTimeout) as
// [Options.LoadTimeout] says. If work on a file has still not ended
// after LoadTimeout more (a Validate hook stuck in Apply), Close returns an
// error wrapping [ErrLoadAbandoned]. Patches the watch applied
// stay applied. Close is safe to call more than once. Called from inside a
// Load or a hook, Close stops the watch and returns without waiting for
// work in progress, which may include its caller.
func (d *Dir) Close() error {
	if hotswap.InHook() {
		// Called from a loader's Load, a Retire hook or the logger, maybe
		// on one of this watch's own workers or on its loop (which logs
		// the watch's events): stop, but wait for neither. The loop sees
		// the cancel at its next step and closes the watcher.
		d.cancel()
		return nil
	}
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.exited
		err := d.w.Close() // run closed it already; this waits for it
		waited := make(chan struct{})
		go func() {
			d.workers.Wait()
			close(waited)
		}()
		// Loads in progress end or are abandoned within the grace; an
		// Apply in progress has LoadTimeout.
		bound := min(abandonGrace, d.opts.LoadTimeout)
		bound += min(d.opts.LoadTimeout, math.MaxInt64-bound) // a LoadTimeout of "for ever" must not wrap
		t := time.NewTimer(bound)
		defer t.Stop()
		select {
		case <-waited:
		case <-t.C:
			err = errors.Join(err, fmt.Errorf("patchdir: watch %s: work on some files (an Apply whose Validate hook ignores its context?) did not end within %v of Close: %w",
				d.dir, bound, ErrLoadAbandoned))
		}
		d.closeErr = err
	})
	<-d.exited
	return d.closeErr
}

// workDone is what a worker tells run when it ends.
type workDone struct {
	ev watcher.Event
	// retry: the file no longer held what the event said when the worker
	// read it. If it changed for good, the watcher reports that; if it
	// came back to the settled content, nothing will, so run starts the
	// event again unless a newer one came.
	retry   bool
	attempt int  // how many times in a row ev was tried and found changed
	refused bool // Check refused the file: run checks it again later
}

// RecheckInterval is how often a file that [Options.Check] refused is
// checked again.
const RecheckInterval = time.Second

// fileWork is run's record of one file that has a worker.
type fileWork struct {
	next *watcher.Event // the latest event that came while the worker ran
}

func (d *Dir) run() {
	defer close(d.exited)
	// Stop the watcher (its goroutine and descriptor) as soon as the watch
	// ends, whether by ctx, by the manager closing or by Close.
	defer d.w.Close()
	busy := make(map[string]*fileWork)
	start := func(ev watcher.Event, after <-chan struct{}, mine chan struct{}, attempt int, recheck bool) {
		busy[ev.Name] = &fileWork{}
		d.workers.Add(1)
		go d.work(ev, after, mine, attempt, recheck)
	}
	// chain starts the files of evs that have no worker, in the order of
	// their names, each applied after the one before, and takes them out
	// of evs.
	chain := func(evs map[string]watcher.Event, recheck bool) {
		var prev <-chan struct{}
		for _, name := range slices.Sorted(maps.Keys(evs)) {
			if busy[name] != nil {
				continue
			}
			mine := make(chan struct{})
			start(evs[name], prev, mine, 0, recheck)
			delete(evs, name)
			prev = mine
		}
	}
	// Files Check refused, by name, with the event that brought them:
	// checked again on a ticker that runs while there are any.
	refused := make(map[string]watcher.Event)
	var recheck <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	// Until the first scan is complete (Synced), events wait: then the
	// files load at once and apply in the order of their names, each
	// after the one before.
	initial := make(map[string]watcher.Event)
	starting := true
	startAll := func() {
		starting = false
		chain(initial, false)
	}
	events, errs := d.w.Events(), d.w.Errors()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.m.Done():
			return
		case r := <-d.done:
			fw := busy[r.ev.Name]
			delete(busy, r.ev.Name)
			switch {
			case fw != nil && fw.next != nil:
				start(*fw.next, nil, nil, 0, false)
			case r.retry:
				start(r.ev, nil, nil, r.attempt+1, false)
			case r.refused:
				refused[r.ev.Name] = r.ev
				if ticker == nil {
					ticker = time.NewTicker(RecheckInterval)
					recheck = ticker.C
				}
			}
		case <-recheck:
			// In the order of their names, each applied after the one
			// before, as at start: files refused together (the
			// directory was writable by others) that Check now passes
			// stack as they would have.
			chain(refused, true)
			if len(refused) == 0 {
				ticker.Stop()
				ticker, recheck = nil, nil
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			_ = d.m.Record(hotswap.Event{Type: EventWatchError, Source: d.dir, Err: err})
		case ev, ok := <-events:
			switch {
			case !ok:
				events = nil
				if starting {
					startAll()
				}
			case ev.Op == watcher.Synced:
				startAll()
			case ev.Op == watcher.Resumed:
				_ = d.m.Record(hotswap.Event{Type: EventWatchResumed, Source: d.dir,
					Note: "the patch directory is back, or its name now leads to another directory; its files are applied"})
			case starting:
				initial[ev.Name] = ev
			case busy[ev.Name] != nil:
				delete(refused, ev.Name)
				busy[ev.Name].next = &ev // runs when the current work on the file ends
			default:
				delete(refused, ev.Name) // a newer event supersedes the refused one
				start(ev, nil, nil, 0, false)
			}
		}
	}
}

// work handles one event of one file, then tells run. Workers of one file
// never overlap. At start, after and mine order the applies (see run).
// recheck: ev is a file Check refused, looked at again; while Check
// refuses it, that is not recorded again.
func (d *Dir) work(ev watcher.Event, after <-chan struct{}, mine chan struct{}, attempt int, recheck bool) {
	defer d.workers.Done()
	retry, refused := false, false
	defer func() {
		if mine != nil {
			close(mine)
		}
		if retry {
			// Look again once a change in progress had time to settle
			// (backing off, for a file that never does); meanwhile a
			// newer event for the file may come.
			t := time.NewTimer(min(d.debounce()<<min(attempt, 16), maxRetryWait))
			defer t.Stop()
			select {
			case <-t.C:
			case <-d.ctx.Done():
				retry = false
			}
		}
		select {
		case d.done <- workDone{ev, retry, attempt, refused}:
		case <-d.exited:
		}
	}()
	switch ev.Op {
	case watcher.Apply:
		var ok bool
		ok, refused = d.apply(ev, after, recheck)
		retry = !ok
	case watcher.Remove:
		d.remove(ev)
	case watcher.Skip:
		var kind hotswap.Kind
		if l := d.loaderFor(ev.Path); l != nil {
			kind = l.Kind()
		}
		_ = d.m.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: kind, Source: ev.Path, Err: ev.Err})
		d.remove(ev)
	}
}

func (d *Dir) loaderFor(path string) hotswap.Loader {
	for _, l := range d.loaders {
		if ok, err := matches(l, path); err != nil {
			return nil // reported when the watcher asked
		} else if ok {
			return l
		}
	}
	return nil
}

// matches runs l.Match, turning a panic into a *PanicError: it runs on the
// watcher's goroutine, where a panic would end the process.
func matches(l hotswap.Loader, name string) (ok bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &hotswap.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return l.Match(name), nil
}

// maxRetryWait bounds the wait before a file found changed after it
// settled is looked at again.
const maxRetryWait = 5 * time.Second

// debounce is the watcher's debounce period.
func (d *Dir) debounce() time.Duration {
	if d.opts.Debounce > 0 {
		return d.opts.Debounce
	}
	return watcher.DefaultDebounce
}

// apply loads and applies the file of ev. ok is false if the file did
// not hold the content ev says, before or after the load: then nothing
// was applied, and the event is to be tried again unless a newer one
// comes (see workDone). refused is true if Options.Check refused the
// file; quiet, it is then not recorded (a recheck of a refused file).
func (d *Dir) apply(ev watcher.Event, after <-chan struct{}, quiet bool) (ok, refused bool) {
	l := d.loaderFor(ev.Path)
	if l == nil {
		return true, false
	}
	if quiet && d.opts.Check != nil {
		// A recheck asks Check first: while it refuses, the file is not
		// read (every refused file, every RecheckInterval, however large).
		if err := d.opts.Check(ev.Path); err != nil {
			return true, true
		}
	}
	if !d.sameContent(d.ctx, ev) {
		return d.ctx.Err() != nil, false // changed since it settled
	}
	if d.opts.Known != nil {
		if id, skip := d.opts.Known(ev.Path, ev.Sum); skip {
			if after != nil {
				select { // keep the start-up order for the names after it
				case <-after:
				case <-d.ctx.Done():
				}
			}
			if id == "" {
				d.remove(ev) // what the file held before goes too
				return true, false
			}
			d.mu.Lock()
			d.files[ev.Name] = id
			d.mu.Unlock()
			return true, false
		}
	}
	if d.opts.Check != nil {
		if err := d.opts.Check(ev.Path); err != nil {
			if !quiet {
				_ = d.m.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: l.Kind(), Source: ev.Path, Err: err})
			}
			return true, true
		}
	}
	p, err := d.load(l, ev.Path)
	if !errors.Is(err, ErrLoadAbandoned) && !d.sameContent(d.ctx, ev) {
		// The loader may have read newer, unsettled bytes, and failed on
		// them or not: drop this load.
		if err == nil {
			d.release(p)
		}
		return d.ctx.Err() != nil, false
	}
	if err != nil {
		if d.ctx.Err() == nil && !errors.Is(err, ErrLoadAbandoned) { // an abandoned load was reported
			_ = d.m.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: l.Kind(), Source: ev.Path,
				Err: fmt.Errorf("load: %w", err)})
		}
		return true, false
	}
	if p.Source == "" {
		p.Source = ev.Path
	}
	if after != nil {
		// At start: apply after the file before this one in name order.
		select {
		case <-after:
		case <-d.ctx.Done():
			d.release(p)
			return true, false
		}
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.LoadTimeout)
	defer cancel()
	d.mu.Lock()
	old := d.files[ev.Name]
	d.mu.Unlock()
	if old == p.ID {
		// Same content as what is applied (the file was re-saved or the
		// directory rescanned): nothing to do but release the new load.
		d.release(p)
		return true, false
	}
	if old != "" && !applied(d.m, old) {
		// The previous version was reverted meanwhile (by an operator or a
		// rollback): the new one applies on its own.
		old = ""
	}
	p.Replaces = old
	_, err = d.m.Apply(ctx, p)
	if err != nil && old != "" && errors.Is(err, hotswap.ErrUnknownPatch) {
		// Reverted between the check above and Apply: apply on its own.
		p.Replaces = ""
		_, err = d.m.Apply(ctx, p)
	}
	if err != nil {
		// Apply recorded the rejection with its reason; the previous
		// version keeps serving. Release what the refused load holds.
		d.release(p)
		return true, false
	}
	d.mu.Lock()
	d.files[ev.Name] = p.ID
	d.mu.Unlock()
	return true, false
}

// load runs l.Load within the bounds: it waits for one of Parallel tokens,
// then gets LoadTimeout, and abandonGrace more after its context ended. An
// abandoned load is reported and left to finish alone; what it returns
// then is released.
func (d *Dir) load(l hotswap.Loader, path string) (hotswap.Patch, error) {
	select {
	case d.slots <- struct{}{}:
	case <-d.ctx.Done():
		return hotswap.Patch{}, d.ctx.Err()
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.LoadTimeout)
	type result struct {
		p   hotswap.Patch
		err error
	}
	var (
		mu        sync.Mutex // guards abandoned, and the handing over of the result
		abandoned bool
		res       = make(chan result, 1)
	)
	go func() {
		defer cancel()
		p, err := d.m.Load(ctx, l, path)
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil {
				d.release(p)
			}
			return
		}
		<-d.slots
		res <- result{p, err}
	}()
	select {
	case r := <-res:
		return r.p, r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(min(abandonGrace, d.opts.LoadTimeout))
	defer grace.Stop()
	select {
	case r := <-res:
		return r.p, r.err
	case <-grace.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-res: // it returned just now
		return r.p, r.err
	default:
	}
	abandoned = true
	<-d.slots // the stuck load no longer counts against Parallel
	var err error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s: %w: the loader ignored its context past LoadTimeout (%v); the file is not applied, "+
			"and what the load makes, if it ever returns, is released", filepath.Base(path), ErrLoadAbandoned, d.opts.LoadTimeout)
	} else {
		err = fmt.Errorf("%s: %w: the loader ignored its context when the watch closed; "+
			"what the load makes, if it ever returns, is released", filepath.Base(path), ErrLoadAbandoned)
	}
	_ = d.m.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: l.Kind(), Source: path, Err: fmt.Errorf("load: %w", err)})
	return hotswap.Patch{}, err
}

func (d *Dir) remove(ev watcher.Event) {
	d.mu.Lock()
	id, ok := d.files[ev.Name]
	delete(d.files, ev.Name)
	d.mu.Unlock()
	if !ok {
		return
	}
	if err := d.m.Revert(d.ctx, id); err != nil && !errors.Is(err, hotswap.ErrUnknownPatch) {
		_ = d.m.Record(hotswap.Event{Type: EventWatchError, PatchID: id, Source: ev.Path,
			Err: fmt.Errorf("revert %s after %s was removed: %w", id, filepath.Base(ev.Path), err)})
	}
}

// release runs the Retire hook of a patch that was loaded but not applied;
// the manager records a failure.
func (d *Dir) release(p hotswap.Patch) {
	_ = d.m.Release(p)
}

// applied reports whether a patch with the given ID is in m's stack, as of
// the last change.
func applied(m *hotswap.Manager, id string) bool {
	for _, p := range m.Status().Stack {
		if p.ID == id {
			return true
		}
	}
	return false
}

// sameContent reports whether the file still holds the content the watcher
// saw settle. It opens the file without blocking (a FIFO swapped in for it
// is refused, not waited on), refuses it past MaxFileSize before reading,
// and stops when ctx ends.
func (d *Dir) sameContent(ctx context.Context, ev watcher.Event) bool {
	f, fi, err := patchfile.Open(ev.Path)
	if err != nil {
		return false
	}
	defer f.Close()
	if d.opts.MaxFileSize > 0 && fi.Size() > d.opts.MaxFileSize {
		return false // the watcher will report it as too large
	}
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return false
	}
	return [sha256.Size]byte(h.Sum(nil)) == ev.Sum
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
