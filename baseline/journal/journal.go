package journal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
	"github.com/hotpatch-go/hotpatch/internal/hookframe"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/loader"
)

// Events the journal records through [hotswap.Manager.Record], besides
// [hotswap.EventSuperseded] and the rejections of patches it could not
// re-apply.
const (
	// EventCorrupt records a journal that could not be read or whose
	// checksum or content is wrong: Err says why and where it was moved
	// aside. The server starts on its baseline.
	EventCorrupt hotswap.EventType = "journal-corrupt"
	// EventError records a journal that could not be written, or a patch
	// whose code could not be kept for a restart; Err says why. The
	// journal tries again at the next change.
	EventError hotswap.EventType = "journal-error"
)

// Defaults for zero fields of [Options].
const (
	// DefaultLoadTimeout bounds the load and apply of each patch
	// re-applied at Open.
	DefaultLoadTimeout = 30 * time.Second
	// DefaultMaxPatchSize is the largest patch file the journal keeps a
	// copy of.
	DefaultMaxPatchSize = 256 << 20
)

// Errors of the journal.
var (
	// ErrStateDir is wrapped by Open's refusal of a state directory that
	// is not given, missing with its parent, or not a directory.
	ErrStateDir = errors.New("journal: unusable state directory")
	// ErrStateDirUnsafe is wrapped by Open's refusal of a state directory
	// that group or others may write, or that another user owns.
	ErrStateDirUnsafe = errors.New("journal: state directory may be written by another user")
	// ErrStateDirReadOnly is wrapped by Open's refusal of a state
	// directory that the process cannot write.
	ErrStateDirReadOnly = errors.New("journal: state directory is not writable")
	// ErrCorrupt is wrapped by the reason a journal was moved aside.
	ErrCorrupt = errors.New("journal: corrupt journal")
	// ErrClosed is returned by [Journal.Sync] after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrTakenOver is returned by [Journal.Sync] once another process
	// has opened the same state directory: the journal no longer writes
	// it (see [Open]).
	ErrTakenOver = errors.New("journal: another process took over the state directory")
	// ErrReplay is wrapped by the error of an [Open] with
	// Options.RequireReplay when a patch could not be applied again.
	ErrReplay = errors.New("journal: a patch of the record could not be applied again")
	// ErrOwnGoroutine is returned by [Journal.Sync] called from the
	// journal's own goroutine: from the manager's logger, while the
	// journal logs through it. That goroutine writes the record itself
	// once the step it logs is done.
	ErrOwnGoroutine = errors.New("journal: Sync called from the journal's own goroutine (a logger it logs through); the journal writes its record after this step")
)

// Options configure [Open]. The zero value is ready to use.
type Options struct {
	// CarryForward re-applies, after a step to a new baseline, the
	// script and process patches the previous baseline had applied,
	// instead of superseding them. Native patches and patches handed
	// over in code are superseded all the same.
	CarryForward bool
	// Identity overrides the running baseline's identity; "" means
	// [Identity].
	Identity string
	// LoadTimeout bounds the load and apply of each patch re-applied at
	// Open; zero means DefaultLoadTimeout. A load that runs out of it is
	// tried once more; a patch that fails again is left out of the record
	// (or fails Open, with RequireReplay).
	LoadTimeout time.Duration
	// RequireReplay makes Open fail, with an error wrapping [ErrReplay],
	// when a patch of the record that has a kept copy cannot be applied
	// again (the copy unreadable, the load or the apply refused, out of
	// time twice), leaving the record as it was, instead of reporting it
	// and going on without it. It holds for a restart of the same
	// baseline only: a patch carried forward to a new baseline
	// (CarryForward) that the new baseline refuses (its slot is gone or
	// has another type: the new baseline changed that code) is reported
	// and left out all the same. A process started by a baseline step sets
	// it (the root package's Runtime.Start does): its start-up then fails,
	// so the restart does, and the old process, which serves the patch,
	// keeps serving, rather than a restart silently dropping a fix. The
	// patches applied before the failure stay applied in the manager.
	RequireReplay bool
	// MaxPatchSize is the largest patch file kept for a restart; zero
	// means DefaultMaxPatchSize. A larger one is reported (EventError)
	// and is not re-applied after a restart.
	MaxPatchSize int64
	// PatchDir is the patch directory watched alongside, if any. The
	// directory says what its files are: a patch from a file in it is
	// applied again only if the file still holds the content recorded. A
	// file removed while the server was down is not applied again; one
	// changed is left to the watch, which applies its new content.
	PatchDir string
}

// Journal records the patch stack of one manager in a state directory
// and re-applies it when the same baseline starts again. Create it with
// [Open].
type Journal struct {
	m     *hotswap.Manager
	dir   string
	ident string
	owner string // written into the journal by this Open: a process that reads another took over
	opts  Options

	mu         sync.Mutex // guards replayed, superseded and heldBack
	replayed   map[string]bool
	superseded map[[sha256.Size]byte]bool
	heldBack   map[string]bool // IDs of this baseline's patches rolled back or reverted by hand

	// Owned by Open, then by the follow goroutine.
	st       *state           // st.Baselines[0] is this baseline's record
	known    map[string]entry // the entries re-applied at Open, by ID: their copies stay for this run
	synced   uint64           // events up to this generation are in st
	lastGen  uint64           // the generation of the last change event taken
	onDisk   uint64           // the record on disk holds the changes up to this generation
	dirty    bool             // st differs from the file
	detached bool             // another process, alive, took the journal over
	release  func()           // releases the lock that says this journal's owner is alive
	warned   map[string]bool  // IDs reported as having no copy
	// uncopyable are IDs whose file could not give a copy (gone, changed).
	uncopyable map[string]bool

	events      <-chan hotswap.Event
	unsubscribe func()
	syncReq     chan syncRequest
	stop        chan struct{}
	exited      chan struct{} // closed when follow returned
	closing     atomic.Bool   // set by the first Close
	closed      chan struct{} // closed when Close's work is done
}

// Open opens the journal in the state directory dir for the manager m,
// re-applies what it says, and keeps it in step with m until Close. It
// returns once the re-applied patches are applied: call it at start,
// after the slots are registered and the loaders attached and before the
// process reports ready, and before the patch directory is watched (pass
// [Journal.Known] to it), so that a restart is invisible.
//
//   - dir must be a directory that only its owner may write; a missing
//     one is created (mode 0700) if its parent exists. Anything else is
//     an error wrapping [ErrStateDir], [ErrStateDirUnsafe] or
//     [ErrStateDirReadOnly], and nothing is applied.
//   - The same baseline as the journal's record (see [Identity]): every
//     patch recorded is applied again, in the order of the stack, from
//     the copy of its file kept in dir.
//   - A new baseline: the patches of the baseline that ran last are
//     superseded, each reported once ([hotswap.EventSuperseded]), and
//     their contents stay unapplied ([Journal.Known]); with
//     Options.CarryForward, its script and process patches are applied
//     again instead.
//   - A journal that cannot be read or is corrupt is moved aside (named
//     journal.corrupt-<UTC time>), reported ([EventCorrupt] and an error
//     record of the manager's logger), and nothing is applied.
//
// A patch that fails to apply again is reported as a rejection, and the
// others go on. If ctx ends before every patch was applied again, Open
// returns its error and leaves the record as it was, so the next start
// applies them all again; those it applied stay applied (close the
// manager). Patches are recorded from the manager's events, whatever
// applied them (the patch directory, [hotswap.Manager.Apply], a tool):
// for a patch loaded from a file, a copy of the file is kept in dir,
// content-addressed, as soon as its applied event is seen; a patch
// handed over in code is recorded, but cannot be applied again.
func Open(ctx context.Context, m *hotswap.Manager, dir string, opts Options) (*Journal, error) {
	return open(ctx, m, dir, opts, subscribeBuffer)
}

// subscribeBuffer is how many events the journal's subscription holds
// before the manager drops them (and the journal rebuilds from the
// stack).
const subscribeBuffer = 1024

func open(ctx context.Context, m *hotswap.Manager, dir string, opts Options, buffer int) (*Journal, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: no state directory given", ErrStateDir)
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	if opts.MaxPatchSize <= 0 {
		opts.MaxPatchSize = DefaultMaxPatchSize
	}
	// The directory opened stays the one written, whatever the working
	// directory becomes.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if opts.PatchDir != "" {
		if abs, err := filepath.Abs(opts.PatchDir); err == nil {
			opts.PatchDir = abs
		}
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	ident := opts.Identity
	if ident == "" {
		var err error
		if ident, err = Identity(); err != nil {
			return nil, err
		}
	} else if !validText(ident) {
		return nil, fmt.Errorf("journal: Options.Identity %q: empty or not printable", ident)
	}
	j := &Journal{
		m: m, dir: dir, ident: ident, opts: opts,
		replayed:   make(map[string]bool),
		superseded: make(map[[sha256.Size]byte]bool),
		heldBack:   make(map[string]bool),
		known:      make(map[string]entry),
		warned:     make(map[string]bool),
		uncopyable: make(map[string]bool),
		syncReq:    make(chan syncRequest),
		stop:       make(chan struct{}),
		exited:     make(chan struct{}),
		closed:     make(chan struct{}),
	}
	st, err := j.claim()
	if err != nil {
		return nil, err
	}
	// Subscribe before anything is applied: from the snapshot taken after
	// the re-applies on, no change is missed.
	j.events, j.unsubscribe = m.Subscribe(buffer)
	apply, gone, prev := j.plan(st)
	failed, err := j.replay(ctx, apply, prev != "")
	// RequireReplay is for a restart of the same baseline: a patch carried
	// forward to a new one (prev != "") that it refuses was written for
	// code the new baseline changed, and is reported and left out.
	if err == nil && opts.RequireReplay && prev == "" && len(failed) > 0 {
		err = fmt.Errorf("%w: %w; the record is kept as it was", ErrReplay, errors.Join(failed...))
	}
	if err != nil {
		// Cut short (a signal during start-up), or a patch missing
		// where one is required: a record rebuilt from the stack now
		// would lose the patches not applied.
		j.unsubscribe()
		j.release()
		return nil, fmt.Errorf("journal: %s: applying the patches again: %w", dir, err)
	}
	j.resync()
	j.dirty = true
	_ = j.flush()
	for _, e := range gone {
		_ = m.Record(hotswap.Event{Type: hotswap.EventSuperseded, PatchID: e.ID, Kind: e.Kind, Source: e.Source,
			Note: fmt.Sprintf("applied on baseline %s; the new baseline %s contains its fix, so it is not applied again (nor is a file with the same content, until it changes)",
				short(prev), short(ident))})
	}
	go runFollow(j)
	return j, nil
}

// claim reads the journal, under the state directory's lock, and writes
// it back with this journal as its owner: a process that opened it
// before stops writing it (see flush).
func (j *Journal) claim() (*state, error) {
	var token [8]byte
	_, _ = rand.Read(token[:])
	j.owner = fmt.Sprintf("%d-%x", os.Getpid(), token)
	unlock, err := lockDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: lock: %w", ErrStateDir, j.dir, err)
	}
	defer unlock()
	if j.release, err = holdOwner(j.dir, j.owner); err != nil {
		return nil, fmt.Errorf("%w: %s: lock: %w", ErrStateDir, j.dir, err)
	}
	j.removeTemps()
	owners, _ := filepath.Glob(filepath.Join(j.dir, ownerPrefix+"*"))
	for _, o := range owners {
		if t := strings.TrimPrefix(filepath.Base(o), ownerPrefix); t != j.owner {
			ownerAlive(j.dir, t) // removes the file of a process that ended without closing
		}
	}
	st, err := j.read()
	if err != nil {
		if err := j.moveAside(err); err != nil {
			j.release()
			return nil, err
		}
		st = &state{Version: formatVersion}
	}
	st.Owner = j.owner
	data, err := st.encode()
	if err == nil {
		err = writeAtomic(j.dir, fileName, data, 0o600)
	}
	if err != nil {
		_ = j.m.Record(hotswap.Event{Type: EventError, Source: j.dir,
			Err: fmt.Errorf("journal: write %s: %w", filepath.Join(j.dir, fileName), err)})
	}
	return st, nil
}

// Identity returns the identity of the baseline the journal records for.
func (j *Journal) Identity() string { return j.ident }

// Dir returns the state directory.
func (j *Journal) Dir() string { return j.dir }

// Known is the [patchdir.Options] Known of a patch directory watched
// alongside the journal: a file whose name and content gave a patch that
// Open applied again counts as that patch while it is applied; a content
// superseded by a new baseline stays unapplied, and so does a file of
// Options.PatchDir whose name and content gave a patch that this
// baseline rolled back, or reverted by hand with the file left in place;
// anything else loads as usual.
func (j *Journal) Known(path string, sum [sha256.Size]byte) (id string, skip bool) {
	id = fileID(path, sum, nil)
	j.mu.Lock()
	replayed, held := j.replayed[id], j.superseded[sum] || j.heldBack[id]
	j.mu.Unlock()
	switch {
	case replayed && j.inStack(id):
		return id, true
	case held:
		return "", true
	}
	return "", false // also a replayed patch reverted since: its file applies again
}

// inStack reports whether the patch id is applied now.
func (j *Journal) inStack(id string) bool {
	return slices.ContainsFunc(j.m.Status().Stack, func(p hotswap.PatchInfo) bool { return p.ID == id })
}

// Sync waits until the journal on disk holds every change the manager
// made before the call, and returns the error of that write, if any (one
// wrapping [ErrTakenOver] once another process opened the state
// directory). An admin API, say, calls it after Apply to promise that
// the patch survives a crash.
func (j *Journal) Sync(ctx context.Context) error {
	return j.SyncTo(ctx, j.m.Generation())
}

// SyncTo is [Journal.Sync] for the changes up to generation gen (an
// Apply's [hotswap.Applied.Generation]): it succeeds once the record on
// disk holds them, also when a later change could not be written. So a
// push whose patch was written before a baseline step's new process took
// the journal over (which then applies it again) is not reported lost
// because a push that came after it was.
func (j *Journal) SyncTo(ctx context.Context, gen uint64) error {
	if hookframe.OnStack(followEntry) {
		return ErrOwnGoroutine
	}
	select {
	case <-j.stop: // closed, its goroutine maybe not yet gone
		return ErrClosed
	default:
	}
	reply := make(chan error, 1)
	select {
	case j.syncReq <- syncRequest{gen: gen, reply: reply}:
	case <-j.exited:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops following the manager; the journal keeps what it holds, so
// close it before the manager, whose Close reverts every patch (the
// journal also recognises those reverts and ignores them). Close is safe
// to call more than once: it returns once the journal's goroutine has
// ended and its owner file is gone, also when an earlier Close came from
// the journal's own goroutine (a logger it logs through), which returns
// at once.
func (j *Journal) Close() error {
	own := hookframe.OnStack(followEntry)
	if !j.closing.CompareAndSwap(false, true) {
		// A later Close waits for the first one's work, but on the
		// journal's own goroutine, which that work waits for (a sync.Once
		// held it there while another goroutine's Close waited for it).
		if !own {
			<-j.closed
		}
		return nil
	}
	close(j.stop)
	finish := func() {
		<-j.exited
		j.unsubscribe()
		j.release()
		close(j.closed)
	}
	if own {
		// From the journal's own goroutine (a logger it logs through):
		// it ends once the step it logs returns.
		go finish()
		return nil
	}
	finish()
	return nil
}

// plan sets up this baseline's record in st and returns what to apply
// again and what is superseded, with the identity of the baseline it
// came from.
func (j *Journal) plan(st *state) (apply, gone []entry, prev string) {
	rec := st.find(j.ident)
	var mine baselineRec
	if rec != nil {
		mine = *rec
		apply = rec.Patches
	} else {
		mine = baselineRec{Identity: j.ident}
		if p := st.find(st.Current); p != nil {
			prev = p.Identity
			mine.Superseded = slices.Clone(p.Superseded)
			for _, e := range p.Patches {
				carry := j.opts.CarryForward && e.SHA256 != "" && (e.Kind == hotswap.KindScript || e.Kind == hotswap.KindProcess)
				if carry {
					apply = append(apply, e)
					continue
				}
				gone = append(gone, e)
				if e.SHA256 != "" {
					mine.Superseded = append(mine.Superseded, superseded{SHA256: e.SHA256, ID: e.ID})
				}
			}
			if n := len(mine.Superseded) - maxSuperseded; n > 0 {
				mine.Superseded = mine.Superseded[n:]
			}
		}
	}
	mine.Patches = nil // rebuilt from the stack after the re-applies
	others := slices.DeleteFunc(slices.Clone(st.Baselines), func(b baselineRec) bool { return b.Identity == j.ident })
	st.Baselines = append([]baselineRec{mine}, others...)
	if len(st.Baselines) > maxBaselines {
		st.Baselines = st.Baselines[:maxBaselines]
	}
	st.Current = j.ident
	j.st = st
	for _, e := range apply {
		j.known[e.ID] = e
	}
	for _, x := range mine.Superseded {
		if b, err := hex.DecodeString(x.SHA256); err == nil && len(b) == sha256.Size {
			j.superseded[[sha256.Size]byte(b)] = true
		}
	}
	for _, x := range mine.HeldBack {
		j.heldBack[x.ID] = true
	}
	return apply, gone, prev
}

// replay applies the entries again, in order; carried says they come
// from the previous baseline (Options.CarryForward). It returns why each
// patch with a kept copy failed, and stops with ctx's error at the first
// that fails once ctx ended.
func (j *Journal) replay(ctx context.Context, apply []entry, carried bool) (failed []error, err error) {
	how := "again after a restart"
	if carried {
		how = "carried forward to the new baseline"
	}
	inStack := make(map[string]bool)
	for _, p := range j.m.Status().Stack {
		inStack[p.ID] = true
	}
	for _, e := range apply {
		if inStack[e.ID] {
			continue // applied before Open, by the application itself
		}
		if why := j.leftToDir(e); why != "" {
			j.m.Logger().Info("journal: not applied again: "+why, "patch", e.ID, "source", e.Source)
			continue
		}
		err := j.replayOne(ctx, e)
		var refused *applyError
		var noCopy *noCopyError
		if err != nil && ctx.Err() == nil && !errors.As(err, &refused) && errors.Is(err, context.DeadlineExceeded) {
			// The load ran out of Options.LoadTimeout, as it may while
			// a restart loads the machine: once more, before the patch
			// is dropped from the record for good.
			j.m.Logger().Warn("journal: patch not loaded in time "+how+"; trying once more", "patch", e.ID, "source", e.Source, "err", err)
			err = j.replayOne(ctx, e)
		}
		if err != nil && ctx.Err() != nil {
			return failed, ctx.Err()
		}
		switch {
		case errors.As(err, &refused):
			// The manager reported the rejection already.
			j.m.Logger().Warn("journal: patch not applied "+how, "patch", e.ID, "source", e.Source, "err", refused.err)
		case err != nil:
			_ = j.m.Record(hotswap.Event{Type: hotswap.EventRejected, PatchID: e.ID, Kind: e.Kind, Source: e.Source,
				Err: fmt.Errorf("journal: apply patch %q %s: %w", e.ID, how, err)})
		}
		if err != nil && !errors.As(err, &noCopy) {
			failed = append(failed, fmt.Errorf("patch %q (%s, from %s) %s: %w", e.ID, e.Kind, e.Source, how, err))
		}
	}
	return failed, nil
}

// leftToDir says why e, from a file of the patch directory, is left to
// the directory's watch: the file is gone or holds other content now.
func (j *Journal) leftToDir(e entry) string {
	if j.opts.PatchDir == "" || e.SHA256 == "" || !sameDir(filepath.Dir(e.Source), j.opts.PatchDir) {
		return ""
	}
	data, _, err := patchfile.ReadFile(e.Source, j.opts.MaxPatchSize)
	if err != nil {
		return "its file in the patch directory is gone or unreadable"
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.SHA256 {
		return "its file in the patch directory changed; the watch applies the new content"
	}
	return ""
}

func sameDir(a, b string) bool {
	if a, err := filepath.Abs(a); err == nil {
		if b, err := filepath.Abs(b); err == nil {
			return a == b
		}
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// noCopyError says that a patch has no kept copy to apply again from:
// it is the application's, or the patch directory's, to apply again.
type noCopyError struct{}

func (*noCopyError) Error() string {
	return "no copy of its code was kept (a patch handed over in code must be applied again by the application; a file that changed before it could be copied is applied again from the patch directory, if it is there)"
}

// applyError is a refusal of the manager's Apply, which records its
// own rejection event.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

func (j *Journal) replayOne(ctx context.Context, e entry) error {
	if e.SHA256 == "" {
		return &noCopyError{}
	}
	path := j.blobPath(e)
	data, _, err := patchfile.ReadFile(path, j.opts.MaxPatchSize)
	if err != nil {
		return fmt.Errorf("its kept copy: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.SHA256 {
		return fmt.Errorf("its kept copy %s does not hold the content recorded (sha256 %.12s...)", path, e.SHA256)
	}
	var l hotswap.Loader
	for _, x := range j.m.Loaders() {
		if x.Match(path) {
			l = x
			break
		}
	}
	if l == nil {
		return fmt.Errorf("no attached loader takes %s (kind %s)", filepath.Base(path), e.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, j.opts.LoadTimeout)
	defer cancel()
	p, err := j.m.Load(ctx, l, path)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	p.Source = e.Source
	if _, err := j.m.Apply(ctx, p); err != nil {
		_ = j.m.Release(p)
		return &applyError{err}
	}
	j.mu.Lock()
	j.replayed[p.ID] = true
	j.mu.Unlock()
	return nil
}

// follow keeps the record in step with the manager's events until Close
// or the manager's shutdown.
// runFollow runs j.follow. It must not be inlined: its frame is how Sync
// and Close recognise the journal's own goroutine.
//
//go:noinline
func runFollow(j *Journal) { j.follow() }

// syncRequest asks the follow goroutine to write the record; it answers
// on reply.
type syncRequest struct {
	gen   uint64 // the changes up to it must be on disk
	reply chan error
}

// followEntry is the entry address of runFollow.
var followEntry = hookframe.Entry(runFollow)

func (j *Journal) follow() {
	defer close(j.exited)
	for {
		select {
		case <-j.stop:
			return
		case ev, ok := <-j.events:
			if !ok || !j.handle(ev) || !j.drain() {
				return
			}
			_ = j.flush()
		case req := <-j.syncReq:
			more := j.drain()
			if j.m.Generation() > j.lastGen && more {
				j.resync() // a change whose event this subscriber missed
			}
			err := j.flush()
			if errors.Is(err, ErrTakenOver) && j.onDisk >= req.gen {
				err = nil // what the caller waits for was written before
			}
			req.reply <- err
			if !more {
				return
			}
		}
	}
}

// drain takes the events already queued. It returns false when following
// must end (the manager shuts down).
func (j *Journal) drain() bool {
	for {
		select {
		case ev, ok := <-j.events:
			if !ok || !j.handle(ev) {
				_ = j.flush()
				return false
			}
		default:
			return true
		}
	}
}

// handle takes one event into the record. It returns false for the
// reverts of the manager's Close, which the journal does not record: the
// stack is to be applied again at the next start.
func (j *Journal) handle(ev hotswap.Event) bool {
	switch ev.Type {
	case hotswap.EventApplied, hotswap.EventReverted, hotswap.EventRolledBack:
	default:
		return true
	}
	if ev.Type == hotswap.EventReverted && ev.Note != "" && ev.Err == nil {
		return false // Close's reverts carry a Note and no error
	}
	if ev.Generation <= j.synced {
		return true // in the record already
	}
	if ev.Generation > j.lastGen+1 {
		j.resync() // events were missed (the subscriber fell behind)
		return true
	}
	j.lastGen = ev.Generation
	rec := &j.st.Baselines[0]
	if ev.Type == hotswap.EventApplied {
		if !j.recordable(ev.PatchID, ev.Kind) {
			return true
		}
		rec.Patches = append(rec.Patches, j.newEntry(ev.PatchID, ev.Kind, ev.Source))
		j.markHeld(rec, ev.PatchID, "") // applied again: no longer held back
	} else {
		if i := slices.IndexFunc(rec.Patches, func(e entry) bool { return e.ID == ev.PatchID }); i >= 0 {
			// A patch rolled back, or reverted while its file still
			// holds it (by hand: the patch directory reverts a file
			// when it is removed or changes), stays off at the next
			// start.
			if e := rec.Patches[i]; j.inPatchDir(e) && (ev.Type == hotswap.EventRolledBack || j.fileHolds(e)) {
				j.markHeld(rec, e.ID, e.SHA256)
			}
			rec.Patches = slices.Delete(rec.Patches, i, i+1)
		}
	}
	for i := range rec.Patches {
		rec.Patches[i].Order = i + 1
	}
	j.dirty = true
	return true
}

// inPatchDir reports whether e, with a kept copy, came from a file of
// Options.PatchDir.
func (j *Journal) inPatchDir(e entry) bool {
	return j.opts.PatchDir != "" && e.SHA256 != "" && sameDir(filepath.Dir(e.Source), j.opts.PatchDir)
}

// fileHolds reports whether the file e came from still holds its
// content.
func (j *Journal) fileHolds(e entry) bool {
	data, _, err := patchfile.ReadFile(e.Source, j.opts.MaxPatchSize)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == e.SHA256
}

// markHeld records that the patch id, whose file has the given SHA-256,
// was rolled back or reverted by hand, so that its file stays unapplied
// at the next start; with sum "", it forgets it (the patch was applied
// again).
func (j *Journal) markHeld(rec *baselineRec, id, sum string) {
	i := slices.IndexFunc(rec.HeldBack, func(x superseded) bool { return x.ID == id })
	if i < 0 && sum == "" {
		return
	}
	if i >= 0 {
		rec.HeldBack = slices.Delete(rec.HeldBack, i, i+1)
	}
	if sum != "" {
		rec.HeldBack = append(rec.HeldBack, superseded{SHA256: sum, ID: id})
		if n := len(rec.HeldBack) - maxSuperseded; n > 0 {
			rec.HeldBack = rec.HeldBack[n:]
		}
	}
	j.dirty = true
}

// resync rebuilds the record from the manager's stack.
func (j *Journal) resync() {
	st := j.m.Status()
	rec := &j.st.Baselines[0]
	byID := make(map[string]entry, len(rec.Patches))
	for _, e := range rec.Patches {
		byID[e.ID] = e
	}
	var patches []entry
	for _, p := range st.Stack {
		if !j.recordable(p.ID, p.Kind) {
			continue
		}
		e, ok := byID[p.ID]
		if !ok {
			if e, ok = j.known[p.ID]; !ok {
				e = j.newEntry(p.ID, p.Kind, p.Source)
			}
		}
		e.Order = len(patches) + 1
		patches = append(patches, e)
	}
	if !slices.Equal(patches, rec.Patches) {
		rec.Patches = patches
		j.dirty = true
	}
	j.synced, j.lastGen = st.Generation, st.Generation
}

// recordable reports whether a patch's ID and kind can be written in
// the journal (printable text, see [state.check]); the first time one
// cannot, it says so.
func (j *Journal) recordable(id string, kind hotswap.Kind) bool {
	if validText(id) && validText(string(kind)) {
		return true
	}
	if !j.warned[id] {
		j.warned[id] = true
		_ = j.m.Record(hotswap.Event{Type: EventError, PatchID: id, Kind: kind,
			Err: fmt.Errorf("journal: patch %q (kind %q) not recorded: its ID or kind is empty, longer than 4096 bytes or not printable, so it will not be applied again after a restart", id, kind)})
	}
	return false
}

// newEntry records a patch just applied and keeps a copy of its file:
// the file at its source whose name and content give its ID.
func (j *Journal) newEntry(id string, kind hotswap.Kind, source string) entry {
	e := entry{ID: id, Kind: kind, Source: source}
	if kind == hotswap.KindManual || kind == "" || source == "" {
		return e
	}
	if k, ok := j.known[id]; ok && k.SHA256 != "" && j.copyIntact(k) {
		e.SHA256 = k.SHA256 // re-applied at Open, applied again since
		return e
	}
	sum, err := j.copyOf(id, source)
	if err == nil {
		e.SHA256 = sum
		return e
	}
	if !j.warned[id] {
		j.warned[id] = true
		_ = j.m.Record(hotswap.Event{Type: EventError, PatchID: id, Kind: kind, Source: source,
			Err: fmt.Errorf("journal: no copy of patch %q kept, so it will not be applied again after a restart: %w", id, err)})
	}
	return e
}

// copyOf keeps a copy of the file at source, if it still holds the
// content that gave the patch id, and returns the content's hex SHA-256.
// An error of the file itself (gone, changed, too large) is marked in
// j.uncopyable: no later try can mend it; an error of the state directory
// (a full disk) is tried again at each flush.
func (j *Journal) copyOf(id, source string) (string, error) {
	data, _, err := patchfile.ReadFile(source, j.opts.MaxPatchSize)
	if err == nil {
		sum := sha256.Sum256(data)
		if fileID(source, sum, data) != id {
			err = errors.New("the file no longer holds the content that was applied (it changed or was replaced just after)")
		} else {
			if err := j.keep(source, sum, data); err != nil {
				return "", err
			}
			return hex.EncodeToString(sum[:]), nil
		}
	}
	j.uncopyable[id] = true
	return "", err
}

// copyMissing tries again to keep the copies of this baseline's patches
// that a failure of the state directory left without one. It returns
// the first such failure.
func (j *Journal) copyMissing() error {
	var first error
	rec := &j.st.Baselines[0]
	for i, e := range rec.Patches {
		if e.SHA256 != "" || e.Kind == hotswap.KindManual || e.Kind == "" || e.Source == "" || j.uncopyable[e.ID] {
			continue
		}
		sum, err := j.copyOf(e.ID, e.Source)
		switch {
		case err == nil:
			rec.Patches[i].SHA256 = sum
			j.dirty = true
		case first == nil && !j.uncopyable[e.ID]:
			first = fmt.Errorf("journal: keep a copy of patch %q: %w", e.ID, err)
		}
	}
	return first
}

// keep stores a patch file's content under blobs/<sha256>/<base name>:
// the base name keeps the loader's match and the patch's ID.
func (j *Journal) keep(source string, sum [sha256.Size]byte, data []byte) error {
	d := filepath.Join(j.dir, blobDir, hex.EncodeToString(sum[:]))
	name := filepath.Base(source)
	if old, _, err := patchfile.ReadFile(filepath.Join(d, name), int64(len(data))); err == nil && bytes.Equal(old, data) {
		return nil // kept already; a copy changed since is replaced
	}
	if _, err := os.Stat(d); err != nil {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		// The new directories' entries are durable before a journal
		// that names the copy is.
		if err := atomicfile.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
		if err := atomicfile.SyncDir(j.dir); err != nil {
			return err
		}
	}
	return writeAtomicVia(j.dir, blobTempPattern, d, name, data, 0o700) // executable: a process patch runs from it
}

// copyIntact reports whether the kept copy of e holds the content
// recorded.
func (j *Journal) copyIntact(e entry) bool {
	data, _, err := patchfile.ReadFile(j.blobPath(e), j.opts.MaxPatchSize)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == e.SHA256
}

func (j *Journal) blobPath(e entry) string {
	return filepath.Join(j.dir, blobDir, e.SHA256, filepath.Base(e.Source))
}

// flush writes the record if it changed, then removes the copies no
// record refers to. A failure is reported, and tried again at the next
// change.
//
// The write is made under the state directory's lock, and only while the
// journal on disk names this journal its owner, or names one whose
// process is gone. While another process that opened the directory
// later is alive, this one does not write (it would undo that one's
// record): it reports it once, and every flush with a change fails. Once
// that process is gone (a baseline step that failed), this one takes the
// journal back: its own record, with the other baselines' records as on
// disk.
func (j *Journal) flush() error {
	copyErr := j.copyMissing()
	if !j.dirty {
		j.onDisk = max(j.onDisk, j.lastGen)
		return copyErr
	}
	unlock, err := lockDir(j.dir)
	if err == nil {
		defer unlock()
		if disk := j.readOwned(); disk != nil {
			if ownerAlive(j.dir, disk.Owner) {
				err := fmt.Errorf("%w: %s was opened by process %s after this one (%s), which no longer records its patches there while that one runs: they will not be applied again after a restart",
					ErrTakenOver, j.dir, disk.Owner, j.owner)
				if !j.detached {
					j.detached = true
					_ = j.m.Record(hotswap.Event{Type: EventError, Source: j.dir, Err: err})
				}
				return err
			}
			j.takeBack(disk)
		}
		j.detached = false
		var data []byte
		if data, err = j.st.encode(); err == nil {
			err = writeAtomic(j.dir, fileName, data, 0o600)
		}
	}
	if err != nil {
		err = fmt.Errorf("journal: write %s: %w", filepath.Join(j.dir, fileName), err)
		_ = j.m.Record(hotswap.Event{Type: EventError, Source: j.dir, Err: err})
		return err
	}
	j.dirty = false
	j.onDisk = max(j.onDisk, j.lastGen)
	j.collect()
	return copyErr
}

// readOwned returns the journal on disk if it names an owner other than
// this journal; nil if it names this one or none, or cannot be read
// (then it is this journal's to write).
func (j *Journal) readOwned() *state {
	data, _, err := patchfile.ReadFile(filepath.Join(j.dir, fileName), maxJournalSize)
	if err != nil {
		return nil
	}
	st, err := parse(data)
	if err != nil || st.Owner == "" || st.Owner == j.owner {
		return nil
	}
	return st
}

// takeBack makes this journal the owner again after the process that
// took it over ended: this baseline's record, then the others as that
// process left them; this baseline is the one running. That process ran
// while this one serves: a baseline step that failed. The record of its
// baseline, if another, is put back as this journal read it at Open
// (none, if there was none): the next step to that baseline is judged
// as the failed one was (a new baseline supersedes, or carries forward,
// this one's patches, also those applied since), not taken for a
// restart of a baseline that never served.
func (j *Journal) takeBack(disk *state) {
	mine := j.st.Baselines[0]
	others := slices.DeleteFunc(disk.Baselines, func(b baselineRec) bool { return b.Identity == mine.Identity })
	if failed := disk.Current; failed != "" && failed != mine.Identity {
		others = slices.DeleteFunc(others, func(b baselineRec) bool { return b.Identity == failed })
		if rec := j.st.find(failed); rec != nil {
			others = append([]baselineRec{*rec}, others...)
		}
	}
	j.st = &state{Version: formatVersion, Current: j.ident, Owner: j.owner,
		Baselines: append([]baselineRec{mine}, others...)}
	if len(j.st.Baselines) > maxBaselines {
		j.st.Baselines = j.st.Baselines[:maxBaselines]
	}
	j.m.Logger().Info("journal: the process that took the state directory over is gone; this one records its patches there again",
		"dir", j.dir, "gone", disk.Owner)
}

// collect removes kept copies that no baseline's record refers to.
func (j *Journal) collect() {
	used := make(map[string]bool)
	for _, b := range j.st.Baselines {
		for _, e := range b.Patches {
			if e.SHA256 != "" {
				used[filepath.Join(e.SHA256, filepath.Base(e.Source))] = true
				used[e.SHA256] = true
			}
		}
	}
	for _, e := range j.known { // may be reverted and applied again during this run
		if e.SHA256 != "" {
			used[filepath.Join(e.SHA256, filepath.Base(e.Source))] = true
			used[e.SHA256] = true
		}
	}
	root := filepath.Join(j.dir, blobDir)
	dirs, _ := os.ReadDir(root)
	for _, d := range dirs {
		if !used[d.Name()] {
			os.RemoveAll(filepath.Join(root, d.Name()))
			continue
		}
		files, _ := os.ReadDir(filepath.Join(root, d.Name()))
		for _, f := range files {
			if !used[filepath.Join(d.Name(), f.Name())] {
				os.Remove(filepath.Join(root, d.Name(), f.Name()))
			}
		}
	}
}

// read reads the journal: an empty state if there is none, an error
// wrapping ErrCorrupt (or the read error) if it cannot be used.
func (j *Journal) read() (*state, error) {
	path := filepath.Join(j.dir, fileName)
	data, _, err := patchfile.ReadFile(path, maxJournalSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &state{Version: formatVersion}, nil
	case errors.Is(err, patchfile.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("cannot read it: %w", err)
	}
	return parse(data)
}

// moveAside renames a journal that cannot be used, and reports why.
func (j *Journal) moveAside(why error) error {
	path := filepath.Join(j.dir, fileName)
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("journal: %s is unusable (%w) and cannot be moved aside: %w", path, why, err)
	}
	_ = atomicfile.SyncDir(j.dir)
	err := fmt.Errorf("journal %s: %w; moved aside to %s; the server starts on its baseline and applies no patch from the journal",
		path, why, filepath.Base(aside))
	j.m.Logger().Error("journal: corrupt or unreadable journal moved aside", "path", path, "aside", aside, "err", why)
	_ = j.m.Record(hotswap.Event{Type: EventCorrupt, Source: path, Err: err})
	return nil
}

// removeTemps removes what writes cut short by a crash left behind.
func (j *Journal) removeTemps() {
	left, _ := filepath.Glob(filepath.Join(j.dir, tempPattern))
	more, _ := filepath.Glob(filepath.Join(j.dir, blobTempPattern))
	for _, p := range append(left, more...) {
		os.Remove(p)
	}
}

// checkDir checks the state directory, creating it (0700) if it is
// missing and its parent exists.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if pfi, perr := os.Stat(parent); perr != nil || !pfi.IsDir() {
			return fmt.Errorf("%w: %s does not exist, nor does its parent %s: create it (mode 0700) or choose another", ErrStateDir, dir, parent)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: create %s: %w", ErrStateDir, dir, err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStateDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrStateDir, dir)
	}
	if err := checkPerm(dir, fi); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("%w: %s: cannot create a file in it: %w", ErrStateDirReadOnly, dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// fileID is the ID of the patch the file at path with that content gives:
// for a signed bundle (*.hpatch) the one its manifest names (ID@VERSION;
// data is its content, or nil to read the file), for every other file
// [patchID].
func fileID(path string, sum [sha256.Size]byte, data []byte) string {
	if !strings.HasSuffix(path, bundleExt) {
		return patchID(path, sum)
	}
	var b *bundle.Bundle
	var err error
	if data != nil {
		b, err = bundle.Read(bytes.NewReader(data), int64(len(data)), bundle.Limits{})
	} else {
		b, err = bundle.Open(path, bundle.Limits{})
	}
	if err != nil {
		return patchID(path, sum) // not a bundle after all: its loader refuses it
	}
	defer b.Close()
	return b.Manifest.PatchID()
}

// bundleExt names the files whose patch ID their manifest gives.
const bundleExt = ".hpatch"

// patchID is the ID every loader gives the file at path with that
// content's SHA-256 (loader.PatchID).
func patchID(path string, sum [sha256.Size]byte) string {
	return loader.PatchIDOfSum(path, sum)
}

// short shortens an identity for people.
func short(ident string) string {
	if ident == "" {
		return "(none recorded)"
	}
	if i := len(ident); i > 20 {
		return ident[:20]
	}
	return ident
}
