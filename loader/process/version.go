package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/registry"
)

// version is one loaded patch: an executable, the slots it serves, and the
// process that serves them now. Processes come and go under it (restarts
// after a crash or a panic); its adapters always call the current one.
type version struct {
	l      *Loader
	host   hotswap.Host // the manager the patch is for: slots, failure reports, rollback, events
	id     string
	source string // the file as given to Load
	exe    string // the private copy that is run
	dir    string // holds exe; removed when the version is released
	log    *slog.Logger

	slots []string          // the slots it serves, sorted
	descs map[string]string // slot -> description the plugin reported, to check restarts
	index map[string]int    // slot -> call channel index

	cur atomic.Pointer[instance] // the process serving calls; nil while restarting or after retire

	// own holds, per slot, the implementation this load made, as a
	// reflect.Value: see serves. Set by bind, read-only afterwards.
	own map[string]reflect.Value

	mu       sync.Mutex             // guards retiring and cur changes
	retiring bool                   // Retire or Close started: no more restarts
	killed   bool                   // Close started: replaced processes stop at once
	stop     chan struct{}          // closed when retiring: the supervisor exits
	stopped  sync.Once              // closes stop
	supDone  chan struct{}          // closed when the supervisor has exited
	old      map[*instance]struct{} // replaced processes still draining
	drains   sync.WaitGroup         // their drains

	replace chan *instance // a call panicked in this process: replace it
}

func newVersion(l *Loader, host hotswap.Host, id, source, exe, dir string) *version {
	return &version{
		l:       l,
		host:    host,
		id:      id,
		source:  source,
		exe:     exe,
		dir:     dir,
		log:     l.log.With("patch", id),
		stop:    make(chan struct{}),
		supDone: make(chan struct{}),
		replace: make(chan *instance, 1),
		old:     make(map[*instance]struct{}),
	}
}

// bind checks the slots of the first process against the registry and
// returns the patch's implementations: one adapter per slot, of the slot's
// exact type.
func (v *version) bind(in *instance) (map[string]any, error) {
	if v.l.custom != nil {
		return v.bindCustom(in)
	}
	if len(in.hello.Slots) == 0 {
		return nil, ErrNoSlots
	}
	b := callchan.NewCodecBuilder()
	impls := make(map[string]any, len(in.hello.Slots))
	v.descs = make(map[string]string, len(in.hello.Slots))
	v.index = make(map[string]int, len(in.hello.Slots))
	var errs []error
	for i, si := range in.hello.Slots {
		s, shape, err := v.l.checkSlot(v.host, si.Name, si.Type, si.Desc, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := v.descs[si.Name]; dup {
			errs = append(errs, fmt.Errorf("slot %q: %w: reported twice", si.Name, ErrProtocol))
			continue
		}
		a := &adapter{v: v, slot: si.Name, idx: i, shape: shape}
		impls[si.Name] = a.makeFunc(s.Type()).Interface()
		v.owns(si.Name, impls[si.Name])
		v.descs[si.Name] = si.Desc
		v.index[si.Name] = i
		v.slots = append(v.slots, si.Name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Strings(v.slots)
	if in.hello.Manifest != "" {
		if m, err := manifest.Decode(in.hello.Manifest); err == nil {
			for _, s := range m.Slots {
				v.log.Debug("process: slot built from source", "slot", s.Name, "func", s.Func, "type", s.Type, "source", m.Source)
			}
		}
	}
	return impls, nil
}

// sameSlots checks that a restarted process serves what the first one did.
func (v *version) sameSlots(in *instance) error {
	if v.l.custom != nil {
		return v.sameCustomSlots(in)
	}
	if len(in.hello.Slots) != len(v.descs) {
		return fmt.Errorf("%w: restarted process serves %d slots, was %d", ErrProtocol, len(in.hello.Slots), len(v.descs))
	}
	for i, si := range in.hello.Slots {
		if v.descs[si.Name] != si.Desc || v.index[si.Name] != i {
			return fmt.Errorf("%w: restarted process serves slot %q differently", ErrProtocol, si.Name)
		}
	}
	return nil
}

// acquire returns the process serving calls now, counting the caller in
// its calls in flight, or nil if none is.
func (v *version) acquire() *instance {
	for range 3 {
		in := v.cur.Load()
		if in == nil {
			return nil
		}
		in.inflight.Add(1)
		if !in.draining.Load() {
			return in
		}
		// The process was replaced between the load and the count; the
		// drainer may not have seen this call. Try the new one.
		in.release()
	}
	return nil
}

// validate runs right before the swap: the process must still be up.
func (v *version) validate(context.Context) error {
	in := v.cur.Load()
	if in == nil {
		return ErrUnavailable
	}
	select {
	case <-in.run.exited:
		return fmt.Errorf("%w before the swap: %v", ErrProcessExited, in.run.exitErr())
	default:
		return nil
	}
}

// serves reports whether slot s holds this very load's implementation, as
// opposed to the baseline's, another patch's, or a later load of the same
// file: patch IDs come from file name and content, so they repeat, and
// cannot tell loads apart. Implementations can: a func value boxed in an
// interface is a pointer to its closure, and two reflect.Values of func
// values compare equal with == exactly when they hold the same closure
// (== compares the Values themselves, not the funcs, which cannot be
// compared). Each load makes closures of its own (reflect.MakeFunc).
func (v *version) serves(s registry.Slot) bool {
	own, ok := v.own[s.Name()]
	return ok && reflect.ValueOf(s.Impl()) == own
}

// owns records the implementation this load made for a slot.
func (v *version) owns(slot string, impl any) {
	if v.own == nil {
		v.own = make(map[string]reflect.Value)
	}
	v.own[slot] = reflect.ValueOf(impl)
}

// retire is the patch's Retire hook: no more restarts; the current process
// finishes its calls in flight (up to Options.Grace) and stops.
func (v *version) retire(ctx context.Context) error {
	v.mu.Lock()
	v.retiring = true
	in := v.cur.Swap(nil)
	v.mu.Unlock()
	v.stopOnce()
	select {
	case <-v.supDone:
	case <-ctx.Done():
	}
	var err error
	if in != nil {
		if left := in.drain(ctx, v.l.opts.Grace); left > 0 {
			err = fmt.Errorf("process: patch %s: %d calls still in flight after %v; process stopped", v.id, left, v.l.opts.Grace)
		}
	}
	v.drains.Wait()
	v.release()
	v.log.Info("process: retired")
	return err
}

// kill stops everything at once, for Loader.Close.
func (v *version) kill() {
	v.mu.Lock()
	v.retiring = true
	v.killed = true
	in := v.cur.Swap(nil)
	old := make([]*instance, 0, len(v.old))
	for o := range v.old {
		old = append(old, o)
	}
	v.mu.Unlock()
	v.stopOnce()
	if in != nil {
		old = append(old, in)
	}
	var wg sync.WaitGroup
	for _, o := range old {
		o.draining.Store(true)
		wg.Go(o.stop)
	}
	wg.Wait()
	<-v.supDone
	v.drains.Wait()
	v.release()
}

func (v *version) stopOnce() { v.stopped.Do(func() { close(v.stop) }) }

// release forgets the version and removes its files.
func (v *version) release() {
	v.l.forget(v)
	os.RemoveAll(v.dir)
}

// askReplace asks the supervisor to replace in (a call panicked in it). It
// never blocks.
func (v *version) askReplace(in *instance) {
	select {
	case v.replace <- in:
	default:
	}
}

// drainLater drains and stops a replaced process in the background.
func (v *version) drainLater(in *instance) {
	v.mu.Lock()
	v.old[in] = struct{}{}
	grace := v.l.opts.Grace
	if v.killed {
		grace = 0
	}
	v.mu.Unlock()
	v.drains.Add(1)
	go func() {
		defer v.drains.Done()
		in.drain(context.Background(), grace)
		v.mu.Lock()
		delete(v.old, in)
		v.mu.Unlock()
	}()
}

// supervise restarts the version's process when it exits or asks to be
// replaced, until the version is retired, and gives up (rolling the patch
// back) when the restart policy says so.
func (v *version) supervise() {
	defer close(v.supDone)
	pol := v.l.opts.Restart
	var restarts []time.Time // within the policy window
	for {
		in := v.cur.Load()
		if in == nil {
			return
		}
		var cause error
		crashed := false
		select {
		case <-v.stop:
			return
		case <-in.run.exited:
			crashed = true
			cause = fmt.Errorf("%w: %v", ErrProcessExited, exitStatus(in.run.exitErr()))
		case r := <-v.replace:
			if r != in {
				continue // a stale request about a process already replaced
			}
			cause = r.panicErr()
		}
		select {
		case <-v.stop: // retired or closed: the exit was ours
			return
		default:
		}
		if crashed {
			// Calls in flight have failed already (their connections broke);
			// new calls fail fast until a new process is up.
			v.mu.Lock()
			v.cur.CompareAndSwap(in, nil)
			v.mu.Unlock()
			in.draining.Store(true)
			in.stopWith(cause)
			// Calls that failed with it were not reported one by one: a
			// crash counts once.
			v.l.report(v, v.slots[0], cause)
			v.log.Warn("process: plugin exited", "err", cause, "stderr", in.stderr.Tail())
		} else {
			v.log.Warn("process: replacing plugin after a panic", "err", cause)
		}

		backoff := time.Duration(0)
		if crashed {
			backoff = pol.Backoff
		}
		for {
			now := time.Now()
			restarts = append(pruneBefore(restarts, now.Add(-pol.Window)), now)
			if pol.MaxRestarts < 0 || len(restarts) > pol.MaxRestarts {
				v.giveUp(cause, len(restarts)-1)
				return
			}
			if backoff > 0 {
				t := time.NewTimer(backoff)
				select {
				case <-v.stop:
					t.Stop()
					return
				case <-t.C:
				}
			}
			backoff = min(max(backoff*2, pol.Backoff), maxBackoff)
			nin, err := v.restart()
			if err != nil {
				if errors.Is(err, errStopped) {
					return
				}
				cause = err
				v.log.Warn("process: restart failed", "err", err)
				continue
			}
			v.mu.Lock()
			if v.retiring {
				v.mu.Unlock()
				nin.stop()
				return
			}
			old := v.cur.Swap(nin)
			v.mu.Unlock()
			if old != nil {
				v.drainLater(old)
			}
			v.log.Info("process: restarted", "pid", nin.pid())
			_ = v.host.Record(hotswap.Event{Type: hotswap.EventRestarted, PatchID: v.id, Kind: hotswap.KindProcess,
				Source: v.source, Slots: v.slots, Err: cause, Note: "pid " + nin.pid()})
			break
		}
	}
}

var errStopped = errors.New("process: version stopped")

// restart starts a new process for the version.
func (v *version) restart() (*instance, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with ctx, at the latest when restart returns
		select {
		case <-v.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	in, err := v.l.start(ctx, v)
	if err != nil {
		select {
		case <-v.stop:
			return nil, errStopped
		default:
		}
		return nil, err
	}
	if err := v.sameSlots(in); err != nil {
		in.stop()
		return nil, err
	}
	return in, nil
}

// giveUp stops restarting and asks the manager to roll the patch back.
func (v *version) giveUp(cause error, restarts int) {
	v.mu.Lock()
	old := v.cur.Swap(nil)
	v.mu.Unlock()
	if old != nil {
		v.drainLater(old)
	}
	why := fmt.Errorf("process: patch %s: %d restarts within %v; giving up: %w", v.id, restarts, v.l.opts.Restart.Window, cause)
	v.log.Error("process: giving up", "err", why)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.host.RollBack(ctx, v.id, why); err != nil {
		v.log.Warn("process: rollback", "err", err)
	}
}

func pruneBefore(ts []time.Time, t time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(t) {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

// exitStatus renders a wait error; nil means status 0.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
