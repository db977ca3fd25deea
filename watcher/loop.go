package watcher

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// loop is the state of the watcher's one goroutine; nothing else touches
// it.
type loop struct {
	w  *Watcher
	t  *tracker
	hs *hasher

	// links holds the candidate names that are symlinks. Only through
	// them can a change to another entry change a candidate's content;
	// without any, such changes need no rescan.
	links map[string]bool

	// dirty holds, per candidate name, when fsnotify last reported it.
	// The name is read once it has been quiet for the debounce period.
	dirty map[string]time.Time

	// full, when not zero, is when something other than a candidate last
	// changed while candidates are symlinks (a link target such as
	// "..data"), or the directory itself changed, or an unknown number of
	// things did (queue overflow). Once it has been quiet, every candidate
	// is read again.
	full time.Time

	// keys holds, per name last found to be a regular file, the stat of
	// that file, for the recheck.
	keys map[string]statKey

	// nextCheck is when the recheck runs next (zero: never). While the
	// directory is gone, it is when to look for it again.
	nextCheck time.Time

	// gone is set while the watched directory does not exist.
	gone bool

	// dirFI is the directory being watched (its name resolved through
	// symlinks when it was added): the recheck compares it with what the
	// name leads to now.
	dirFI fs.FileInfo

	// syncOp is the notice (Synced or Resumed) that the next full scan
	// completes (zero: none); notices are those completed, delivered in
	// order once no change is pending.
	syncOp  Op
	notices []Op

	// Files over inlineMax are hashed off this goroutine, so that a big
	// file delays no other: bg holds the names being hashed (true: the
	// result is stale, read again), bgQueue those waiting for one of
	// maxHashers, bgDone the results. quit ends the hashers at exit.
	bg      map[string]bool
	bgQueue []string
	running int // hashers started and not yet reported
	bgDone  chan bgResult
	bgWG    sync.WaitGroup
	quit    chan struct{}

	// fsEvents and fsErrors are fsw's channels, nil once stopped.
	fsEvents <-chan fsnotify.Event
	fsErrors <-chan error
}

// inlineMax is the largest file hashed on the watcher's own goroutine,
// in order; larger ones are hashed by up to maxHashers goroutines and
// reported when done.
const (
	inlineMax  = 1 << 20
	maxHashers = 2
)

// bgResult is what a background hasher found.
type bgResult struct {
	name string
	e    entry
	err  error
}

// run is the watcher's goroutine. It reads fsnotify, debounces, reads
// settled files and delivers events, until Close or until the directory
// disappears and the resulting Remove events are delivered.
func (w *Watcher) run() {
	defer close(w.exited)
	defer close(w.errors)
	defer close(w.events)
	defer func() { w.closeErr = w.fsw.Close() }()

	l := &loop{
		w:        w,
		t:        newTracker(),
		hs:       newHasher(w.done),
		links:    make(map[string]bool),
		dirty:    make(map[string]time.Time),
		keys:     make(map[string]statKey),
		full:     time.Now(), // the initial scan, debounced like any other
		syncOp:   Synced,
		bg:       make(map[string]bool),
		bgDone:   make(chan bgResult),
		quit:     make(chan struct{}),
		fsEvents: w.fsw.Events,
		fsErrors: w.fsw.Errors,
		dirFI:    w.dirFI,
	}
	defer l.bgWG.Wait()
	defer close(l.quit)
	if w.recheck > 0 {
		l.nextCheck = time.Now().Add(w.recheck)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()

	for {
		var fire <-chan time.Time
		if at, ok := l.deadline(); ok {
			timer.Reset(time.Until(at))
			fire = timer.C
		}
		var out chan<- Event
		var ev Event
		name, op, s, pending := l.t.head()
		switch {
		case pending:
			out = w.events
			ev = Event{Op: op, Name: name, Path: filepath.Join(w.dir, name)}
			switch op {
			case Apply:
				ev.Sum = s.sum
			case Skip:
				ev.Size = s.size
				ev.Err = &SizeError{Path: ev.Path, Size: s.size, Limit: w.maxSize}
			}
		case len(l.notices) > 0 && len(l.bg) == 0:
			out = w.events
			ev = Event{Op: l.notices[0]}
		case l.fsEvents == nil:
			return // stopped, and every Remove delivered
		}

		select {
		case <-w.done:
			return
		case out <- ev:
			if pending {
				l.t.ack()
			} else {
				l.notices = l.notices[1:]
			}
		case e, ok := <-l.fsEvents:
			l.handle(e, ok)
		case err, ok := <-l.fsErrors:
			l.handleError(err, ok)
		case r := <-l.bgDone:
			l.hashed(r)
		case <-fire:
			// Events that are ready may say a file is still changing;
			// take them first, rather than let select pick at random.
			for range maxDrain {
				select {
				case e, ok := <-l.fsEvents:
					l.handle(e, ok)
					continue
				default:
				}
				break
			}
			now := time.Now()
			l.settle(now)
			if !l.nextCheck.IsZero() && !now.Before(l.nextCheck) {
				l.check(now)
			}
		}
	}
}

// maxDrain bounds how many ready fsnotify events are taken before a
// settle, so that a storm of them cannot postpone it for ever.
const maxDrain = 256

// handle records one fsnotify event; ok is false when fsnotify closed its
// channel.
func (l *loop) handle(e fsnotify.Event, ok bool) {
	w := l.w
	now := time.Now()
	switch {
	case !ok:
		l.stop(fmt.Errorf("watcher: %s: %w", w.dir, fsnotify.ErrClosed))
		return
	case l.gone:
		return // left over from the directory that went away
	case e.Name == w.dir:
		if e.Has(fsnotify.Remove) || e.Has(fsnotify.Rename) {
			l.lost()
			return
		}
		l.full = now
		return
	}
	name := filepath.Base(e.Name)
	switch {
	case filepath.Dir(e.Name) != w.dir:
		l.full = now // not expected from fsnotify; look at everything
	case w.candidate(name):
		l.dirty[name] = now
	case len(l.links) > 0:
		l.full = now
	}
}

func (l *loop) handleError(err error, ok bool) {
	if !ok {
		l.fsErrors = nil
		return
	}
	l.w.report(fmt.Errorf("watcher: %s: %w", l.w.dir, err))
	l.full = time.Now() // events may have been lost
}

// stop ends watching: nothing more can be observed, so every file counts
// as removed. run exits once that is delivered.
func (l *loop) stop(why error) {
	l.w.report(why)
	l.t.unsetAll()
	clear(l.dirty)
	l.full = time.Time{}
	l.fsEvents, l.fsErrors = nil, nil
}

// lost handles the removal or renaming of the watched directory: nothing
// in it can be observed any more, so every file counts as removed, and
// the directory is looked for under its name until it comes back.
func (l *loop) lost() {
	w := l.w
	w.report(fmt.Errorf("%w: %s; every file in it counts as removed until it is back, looked for every %v",
		ErrDirRemoved, w.dir, l.dirPoll()))
	_ = w.fsw.Remove(w.dir) // gone with the directory already, or left on its renamed inode
	l.t.unsetAll()
	clear(l.dirty)
	clear(l.links)
	clear(l.keys)
	for _, name := range l.bgQueue {
		delete(l.bg, name) // never started: forget it
	}
	l.bgQueue = nil
	for name := range l.bg {
		l.bg[name] = true // running: drop what it finds
	}
	l.full = time.Time{}
	if l.syncOp == Synced {
		l.notices = append(l.notices, Synced) // the first scan ends here: nothing is left
	}
	l.syncOp = 0
	l.gone = true
	l.nextCheck = time.Now().Add(l.dirPoll())
}

// switched handles the watched name leading to another directory (fi)
// than the one watched, a symlink switched: watch the new one, and read
// every name as for a directory that came back, but with no removal in
// between, so a file both directories hold keeps serving.
func (l *loop) switched(fi fs.FileInfo, now time.Time) {
	w := l.w
	_ = w.fsw.Remove(w.dir)
	if err := w.fsw.Add(w.dir); err != nil {
		// Nothing can be watched under the name now: as if removed.
		w.report(fmt.Errorf("watcher: watch %s again after it came to lead to another directory: %w", w.dir, err))
		l.lost()
		return
	}
	l.dirFI = fi
	for name := range l.bg {
		l.bg[name] = true // reading the old directory's file: read again
	}
	l.full = now
	if l.syncOp == 0 {
		l.syncOp = Resumed
	}
}

// dirPoll is how often a removed directory is looked for.
func (l *loop) dirPoll() time.Duration {
	if l.w.recheck > 0 {
		return l.w.recheck
	}
	return DefaultRecheck
}

// check runs the periodic recheck: while the directory is gone, look for
// it; otherwise stat every file read before and schedule a read of those
// whose stat changed with no event here (a write through a hard link
// elsewhere, a symlink target outside the directory).
func (l *loop) check(now time.Time) {
	w := l.w
	if l.gone {
		l.nextCheck = now.Add(l.dirPoll())
		fi, err := os.Stat(w.dir)
		if err != nil || !fi.IsDir() {
			return
		}
		if err := w.fsw.Add(w.dir); err != nil {
			w.report(fmt.Errorf("watcher: watch %s again: %w", w.dir, err))
			return
		}
		l.gone = false
		l.dirFI = fi
		l.full = now // read everything, debounced like any change
		l.syncOp = Resumed
		if w.recheck <= 0 {
			l.nextCheck = time.Time{}
		}
		return
	}
	l.nextCheck = now.Add(w.recheck)
	// The name may lead elsewhere with no event on the directory watched:
	// a symlink to it removed, or switched to another directory.
	fi, err := os.Stat(w.dir)
	switch {
	case err != nil || !fi.IsDir():
		l.lost()
		return
	case !os.SameFile(fi, l.dirFI):
		l.switched(fi, now)
		return
	}
	for name, k := range l.keys {
		if _, busy := l.dirty[name]; busy {
			continue
		}
		fi, err := os.Stat(filepath.Join(w.dir, name))
		if err != nil || keyOf(fi) != k {
			l.dirty[name] = now
		}
	}
}

// deadline returns when the earliest pending change will have been quiet
// for the debounce period, or the recheck is due.
func (l *loop) deadline() (at time.Time, ok bool) {
	if !l.full.IsZero() {
		at, ok = l.full, true
	}
	for _, t := range l.dirty {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	if ok {
		at = at.Add(l.w.debounce)
	}
	if !l.nextCheck.IsZero() && (!ok || l.nextCheck.Before(at)) {
		at, ok = l.nextCheck, true
	}
	return at, ok
}

// settle reads every name that has been quiet for the debounce period
// and records what it finds, oldest change first, so that events follow
// the order of the changes that caused them.
func (l *loop) settle(now time.Time) {
	w := l.w
	quiet := func(t time.Time) bool { return !now.Before(t.Add(w.debounce)) }

	type due struct {
		name string
		at   time.Time
	}
	var names []due
	for name, t := range l.dirty {
		if quiet(t) {
			names = append(names, due{name, t})
			delete(l.dirty, name)
		}
	}
	scanned := false // a full scan that completes the pending notice
	if !l.full.IsZero() && quiet(l.full) {
		scanned = l.syncOp != 0
		at := l.full
		l.full = time.Time{}
		seen := make(map[string]bool, len(names))
		for _, d := range names {
			seen[d.name] = true
		}
		add := func(name string) {
			if _, busy := l.dirty[name]; !busy && !seen[name] {
				seen[name] = true
				names = append(names, due{name, at})
			}
		}
		entries, err := os.ReadDir(w.dir)
		switch {
		case err == nil:
			for _, e := range entries {
				if w.candidate(e.Name()) {
					add(e.Name())
				}
			}
			for name := range l.t.disk {
				add(name) // gone from the listing: read to confirm
			}
		case errors.Is(err, fs.ErrNotExist):
			// The directory is going away; its own event follows.
			// Nothing to change before that.
			scanned = false
		default:
			w.report(fmt.Errorf("watcher: %w", err))
		}
	}

	slices.SortFunc(names, func(a, b due) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.name, b.name))
	})
	for _, d := range names {
		if _, busy := l.bg[d.name]; busy {
			l.bg[d.name] = true // being hashed: read again when that ends
			continue
		}
		e, err := l.hs.look(filepath.Join(w.dir, d.name), w.maxSize, inlineMax)
		if errors.Is(err, errClosing) {
			return
		}
		if e.deferred {
			l.bg[d.name] = false
			l.bgQueue = append(l.bgQueue, d.name)
			continue
		}
		l.record(d.name, e, err)
	}
	l.startHashers()
	if scanned {
		l.notices = append(l.notices, l.syncOp)
		l.syncOp = 0
	}
}

// record updates the views with what look found at name.
func (l *loop) record(name string, e entry, err error) {
	if err != nil {
		l.w.report(fmt.Errorf("watcher: %w", err))
	}
	if e.link {
		l.links[name] = true
	} else {
		delete(l.links, name)
	}
	switch {
	case e.present:
		l.t.set(name, e.sum)
	case e.tooLarge:
		l.t.skip(name, e.size)
	default:
		l.t.unset(name)
	}
	if e.present || e.tooLarge {
		l.keys[name] = e.key
	} else {
		delete(l.keys, name)
	}
}

// startHashers starts background hashers for queued names, up to
// maxHashers at once.
func (l *loop) startHashers() {
	for len(l.bgQueue) > 0 && l.running < maxHashers {
		name := l.bgQueue[0]
		l.bgQueue = l.bgQueue[1:]
		l.running++
		path := filepath.Join(l.w.dir, name)
		l.bgWG.Add(1)
		go func() {
			defer l.bgWG.Done()
			if l.w.bgGate != nil {
				l.w.bgGate(name)
			}
			e, err := newHasher(l.quit).look(path, l.w.maxSize, 0)
			select {
			case l.bgDone <- bgResult{name, e, err}:
			case <-l.quit:
			}
		}()
	}
}

// hashed records the result of a background hash, unless the file changed
// meanwhile: then it is read again.
func (l *loop) hashed(r bgResult) {
	l.running--
	stale, known := l.bg[r.name]
	delete(l.bg, r.name)
	defer l.startHashers()
	if !known {
		stale = true
	}
	if errors.Is(r.err, errClosing) {
		return
	}
	if _, dirty := l.dirty[r.name]; dirty {
		return // it changed again; its settle reads it
	}
	if stale || l.gone {
		if !l.gone {
			l.dirty[r.name] = time.Time{} // due at once
		}
		return
	}
	l.record(r.name, r.e, r.err)
}
