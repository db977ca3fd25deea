package watcher

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for zero fields of [Options].
const (
	// DefaultDebounce is the quiet period used when [Options.Debounce] is
	// zero.
	DefaultDebounce = 100 * time.Millisecond

	// DefaultMaxSize is the largest file read when [Options.MaxSize] is
	// zero: larger than any patch file (scripts, .so, .proc executables)
	// should be, small enough that hashing one takes well under a second.
	DefaultMaxSize = 256 << 20

	// DefaultRecheck is the period of the recheck when [Options.Recheck]
	// is zero.
	DefaultRecheck = 2 * time.Second
)

// errBacklog is how many errors wait in [Watcher.Errors] for a reader
// before the oldest is dropped to make room.
const errBacklog = 16

var (
	// ErrNotDir is returned by [New] when the path exists but is not a
	// directory.
	ErrNotDir = errors.New("watcher: not a directory")

	// ErrDirRemoved is sent on [Watcher.Errors] when the watched directory
	// is removed or renamed. Every file counts as removed; the watcher
	// looks for the directory to come back under its name and then
	// reports [Resumed] (see the package documentation).
	ErrDirRemoved = errors.New("watcher: directory removed or renamed")

	// ErrTooLarge is the reason of a [Skip] event for a file over
	// [Options.MaxSize]; the event's Err is a *SizeError.
	ErrTooLarge = errors.New("watcher: file too large")

	// errClosing interrupts the hashing of a file when Close is called.
	errClosing = errors.New("watcher: closing")
)

// Op says what the consumer should do with a file.
type Op int

const (
	// Apply means the file is new or its content changed; the content
	// has settled and its SHA-256 is in [Event.Sum].
	Apply Op = iota + 1

	// Remove means a file that was applied before is gone: deleted,
	// renamed away, no longer a regular file, or unreadable.
	Remove

	// Skip means a regular file is there but was not read: it is over
	// [Options.MaxSize]. [Event.Err] says why and [Event.Size] how large
	// it is. For the reader the file is gone, as after Remove: whatever
	// it applied from an earlier version must go. It comes again if the
	// size changes, and Apply follows once the file fits.
	Skip

	// Synced means every file found by the first scan of the directory
	// has been reported. Name and Path are empty. It comes once, after
	// every event of the first scan (which may be none); events of
	// changes made meanwhile may come before it too.
	Synced

	// Resumed means the watched directory, removed or renamed before
	// ([ErrDirRemoved]), exists again under its name and is watched
	// again, or that its name, a symlink, now leads to another directory,
	// which is watched instead; every file in it has been reported. Name
	// and Path are empty.
	Resumed
)

// String returns the name of the op: "Apply", "Remove", "Skip", "Synced"
// or "Resumed".
func (op Op) String() string {
	switch op {
	case Apply:
		return "Apply"
	case Remove:
		return "Remove"
	case Skip:
		return "Skip"
	case Synced:
		return "Synced"
	case Resumed:
		return "Resumed"
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

// Event is one settled change of one file in the watched directory.
type Event struct {
	Op Op

	// Name is the entry's base name, e.g. "greet.go".
	Name string

	// Path is filepath.Join of the directory passed to [New] and Name,
	// e.g. "patches/greet.go". For a symlink it is the link, not its
	// target.
	Path string

	// Sum is the SHA-256 of the content the watcher read once it had
	// settled; zero for Remove. A consumer that reads Path again can
	// compare: a different sum means the file changed since, and another
	// event for it will follow.
	Sum [sha256.Size]byte

	// Size is the size of a skipped file; zero for other ops.
	Size int64

	// Err says why a file was skipped; nil for other ops.
	Err error
}

// SizeError is the Err of a [Skip] event for a file over the limit. It
// matches [ErrTooLarge].
type SizeError struct {
	Path  string
	Size  int64
	Limit int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("watcher: %s: file too large: %d bytes, the limit is %d (Options.MaxSize); not read", e.Path, e.Size, e.Limit)
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

// Options configures a [Watcher]. The zero value is ready to use.
type Options struct {
	// Debounce is how long a file (or, for symlink swaps, the directory)
	// must stay quiet before it is read. Zero or negative means
	// DefaultDebounce.
	Debounce time.Duration

	// Match selects the entries to report, by base name. It is called
	// only for names that are not ignored (see the package documentation),
	// only from the watcher's own goroutine. Nil matches every name.
	Match func(name string) bool

	// MaxSize is the largest file, in bytes, that is read. A larger file
	// is not opened for reading or hashed: it is reported as [Skip]. Zero
	// means DefaultMaxSize; negative means no limit.
	MaxSize int64

	// Recheck is how often every reported file is looked at again
	// (one stat per file, no read unless the stat changed), to notice
	// changes that come with no event in the directory: a write through
	// a hard link outside it, a change of a symlink's target outside it.
	// It is also how often a removed directory is looked for. Zero means
	// DefaultRecheck; negative turns the recheck off (a removed directory
	// is then still looked for every DefaultRecheck).
	Recheck time.Duration
}

// Watcher reports settled changes of the files in one directory. Create
// it with [New]; read [Watcher.Events] (and preferably [Watcher.Errors])
// until [Watcher.Close].
type Watcher struct {
	dir      string // cleaned, as the caller named it; also fsnotify's name for it
	debounce time.Duration
	match    func(string) bool // nil matches all
	maxSize  int64             // <= 0: no limit
	recheck  time.Duration     // <= 0: off

	fsw   *fsnotify.Watcher // owned by run, which closes it
	dirFI fs.FileInfo       // the directory watched at New (through symlinks); then run's

	events chan Event // closed by run on exit
	errors chan error // buffered errBacklog; closed by run on exit, after events

	done      chan struct{} // closed by Close
	exited    chan struct{} // closed when run has returned
	closeOnce sync.Once
	closeErr  error // written by run before exited is closed

	bgGate func(name string) // tests: called by a background hasher before it reads
}

// New starts watching dir, which must be an existing directory. The first
// scan of the files already present happens once the directory has been
// quiet for the debounce period, and reports every matching file as
// Apply, so a restarted server re-applies what is in the directory.
//
// Only dir itself is watched, not its subdirectories. A relative dir is
// made absolute: a later chdir of the process does not move the watch,
// and the paths of events are absolute.
func New(dir string, opts Options) (*Watcher, error) {
	return newWatcher(dir, opts, nil)
}

func newWatcher(dir string, opts Options, bgGate func(string)) (*Watcher, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrNotDir, dir)
	}
	debounce := opts.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	// Absolute, so that a chdir of the process does not move the watch
	// (its recheck would take the directory for gone, and the paths of
	// its events would name files of another directory).
	clean, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	maxSize := opts.MaxSize
	if maxSize == 0 {
		maxSize = DefaultMaxSize
	}
	recheck := opts.Recheck
	if recheck == 0 {
		recheck = DefaultRecheck
	}

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	if err := fsw.Add(clean); err != nil {
		_ = fsw.Close() // the Add error says more
		return nil, fmt.Errorf("watcher: watch %s: %w", dir, err)
	}

	w := &Watcher{
		dir:      clean,
		debounce: debounce,
		match:    opts.Match,
		maxSize:  maxSize,
		recheck:  recheck,
		fsw:      fsw,
		dirFI:    fi,
		events:   make(chan Event),
		errors:   make(chan error, errBacklog),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		bgGate:   bgGate,
	}
	go w.run()
	return w, nil
}

// Events returns the channel of settled changes. It is closed after
// [Watcher.Close].
//
// Events are never dropped: while nobody reads, the watcher keeps, per
// file, only the difference between what it last delivered and what is
// on disk now, so a slow reader receives the latest state, not a history.
func (w *Watcher) Events() <-chan Event { return w.events }

// Errors returns the channel of non-fatal errors: fsnotify errors (an
// event queue overflow among them, after which the directory is rescanned),
// unreadable files and directory read errors, each naming the path, and
// [ErrDirRemoved]. The watcher keeps running after them.
//
// Reading Errors is optional: it holds the newest few errors and drops
// older ones rather than block. It is closed after Events.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Close stops the watcher, waits for its goroutines to exit, and closes
// Events and Errors. Changes not yet delivered are dropped; a file being
// hashed is abandoned. Close is safe to call more than once and
// concurrently; later calls return nil.
func (w *Watcher) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
		err = w.closeErr
	})
	<-w.exited
	return err
}

// report hands err to the reader of Errors without ever blocking: when
// the backlog is full, the oldest error makes room.
func (w *Watcher) report(err error) {
	select {
	case w.errors <- err:
		return
	default:
	}
	select {
	case <-w.errors:
	default:
	}
	// run is the only sender, so there is room now.
	select {
	case w.errors <- err:
	default:
	}
}
