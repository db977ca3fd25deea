package hotswap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// DefaultLoadTimeout bounds one Loader.Load call made by a [DirWatch].
const DefaultLoadTimeout = 30 * time.Second

// EventWatchError records an error of the directory watch itself (the
// directory vanished, the event queue overflowed); the watch keeps running
// where it can.
const EventWatchError EventType = "watch-error"

// WatchOptions configure [Watch]. The zero value is ready to use.
type WatchOptions struct {
	// Debounce is how long a file must stay quiet before it is loaded;
	// zero means watcher.DefaultDebounce.
	Debounce time.Duration
	// LoadTimeout bounds each load (interpreting a script, starting a
	// process); zero means DefaultLoadTimeout.
	LoadTimeout time.Duration
}

// DirWatch feeds the files of one patch directory through loaders into a
// manager. Create it with [WatchDir] or [Watch].
type DirWatch struct {
	m       *Manager
	w       *watcher.Watcher
	loaders []Loader
	opts    WatchOptions
	files   map[string]string // file name -> ID of the patch applied from it; owned by run

	ctx       context.Context
	cancel    context.CancelFunc
	exited    chan struct{}
	closeOnce sync.Once
}

// WatchDir watches dir and applies each file that one of loaders matches
// (by extension: .go scripts, .so native patches, .proc processes), with
// default options. See [Watch].
func WatchDir(ctx context.Context, m *Manager, dir string, loaders ...Loader) (*DirWatch, error) {
	return Watch(ctx, m, dir, WatchOptions{}, loaders...)
}

// Watch watches dir and keeps the manager in step with it:
//
//   - a file that appears is loaded and applied;
//   - a file that changes is loaded and applied in place of its previous
//     version, in one swap ([Patch.Replaces]), so no moment serves the
//     baseline by accident;
//   - a file that disappears is reverted.
//
// Files already in dir are applied at start. A file that fails to load or
// apply is refused with an event naming the file (and line, where the loader
// knows it); whatever served before keeps serving, and the watch goes on.
// The watch stops when ctx ends or on [DirWatch.Close]; patches it applied
// stay applied.
func Watch(ctx context.Context, m *Manager, dir string, opts WatchOptions, loaders ...Loader) (*DirWatch, error) {
	if len(loaders) == 0 {
		return nil, errors.New("hotswap: watch " + dir + ": no loaders given")
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	match := func(name string) bool {
		for _, l := range loaders {
			if l.Match(name) {
				return true
			}
		}
		return false
	}
	w, err := watcher.New(dir, watcher.Options{Debounce: opts.Debounce, Match: match})
	if err != nil {
		return nil, fmt.Errorf("hotswap: watch %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &DirWatch{
		m: m, w: w, loaders: loaders, opts: opts,
		files:  make(map[string]string),
		ctx:    ctx,
		cancel: cancel,
		exited: make(chan struct{}),
	}
	go d.run()
	return d, nil
}

// Close stops the watch and waits for it. Patches it applied stay applied.
// Close is safe to call more than once.
func (d *DirWatch) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.exited
		err = d.w.Close() // run closed it already; this waits for it
	})
	<-d.exited
	return err
}

func (d *DirWatch) run() {
	defer close(d.exited)
	// Stop the watcher (its goroutine and descriptor) as soon as the watch
	// ends, whether by ctx, by the manager closing or by Close.
	defer d.w.Close()
	events, errs := d.w.Events(), d.w.Errors()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.m.Done():
			return
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			d.m.emit(Event{Type: EventWatchError, Generation: d.m.Generation(), Err: err})
		case ev, ok := <-events:
			if !ok {
				// The watcher stopped by itself (directory removed); its
				// error was reported. Wait for Close or ctx.
				events = nil
				continue
			}
			switch ev.Op {
			case watcher.Apply:
				d.apply(ev)
			case watcher.Remove:
				d.remove(ev)
			}
		}
	}
}

func (d *DirWatch) loaderFor(path string) Loader {
	for _, l := range d.loaders {
		if l.Match(path) {
			return l
		}
	}
	return nil
}

func (d *DirWatch) apply(ev watcher.Event) {
	l := d.loaderFor(ev.Path)
	if l == nil {
		return
	}
	if !sameContent(ev) {
		return // changed again since it settled; another event follows
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.LoadTimeout)
	defer cancel()
	p, err := l.Load(ctx, ev.Path)
	if err == nil && !sameContent(ev) {
		// The loader may have read newer, unsettled bytes: drop this load
		// and wait for the event that the change will bring.
		d.release(p)
		return
	}
	if err != nil {
		d.m.emit(Event{Type: EventRejected, Generation: d.m.Generation(), Kind: l.Kind(), Source: ev.Path,
			Err: fmt.Errorf("load: %w", err)})
		return
	}
	if p.Source == "" {
		p.Source = ev.Path
	}
	old := d.files[ev.Name]
	if old == p.ID {
		// Same content as what is applied (the file was re-saved or the
		// directory rescanned): nothing to do but release the new load.
		d.release(p)
		return
	}
	if old != "" && !d.m.applied(old) {
		// The previous version was reverted meanwhile (by an operator or a
		// rollback): the new one applies on its own.
		old = ""
	}
	p.Replaces = old
	_, err = d.m.Apply(ctx, p)
	if err != nil && old != "" && errors.Is(err, ErrUnknownPatch) {
		// Reverted between the check above and Apply: apply on its own.
		p.Replaces = ""
		_, err = d.m.Apply(ctx, p)
	}
	if err != nil {
		// Apply recorded the rejection with its reason; the previous
		// version keeps serving. Release what the refused load holds.
		d.release(p)
		return
	}
	d.files[ev.Name] = p.ID
}

func (d *DirWatch) remove(ev watcher.Event) {
	id, ok := d.files[ev.Name]
	if !ok {
		return
	}
	delete(d.files, ev.Name)
	if err := d.m.Revert(d.ctx, id); err != nil && !errors.Is(err, ErrUnknownPatch) {
		d.m.emit(Event{Type: EventWatchError, Generation: d.m.Generation(), PatchID: id, Source: ev.Path,
			Err: fmt.Errorf("revert %s after %s was removed: %w", id, filepath.Base(ev.Path), err)})
	}
}

// release runs the Retire hook of a patch that was loaded but not applied.
func (d *DirWatch) release(p Patch) {
	if p.Retire == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.m.opts.RetireTimeout)
	defer cancel()
	if err := runUnlocked(func() error { return callHook(ctx, p.Retire) }); err != nil {
		d.m.emit(Event{Type: EventRetired, Generation: d.m.Generation(), PatchID: p.ID, Kind: p.Kind, Source: p.Source,
			Err: fmt.Errorf("release refused patch %q: %w", p.ID, err)})
	}
}

// sameContent reports whether the file still holds the content the watcher
// saw settle.
func sameContent(ev watcher.Event) bool {
	f, err := os.Open(ev.Path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), ev.Sum[:])
}
