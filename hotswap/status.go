package hotswap

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/registry"
)

// Status is a consistent picture of a manager: no patch is ever seen half
// applied.
type Status struct {
	Generation uint64
	Slots      []SlotStatus // every registered slot, sorted by name
	Stack      []PatchInfo  // applied patches, bottom (oldest) first
}

// SlotStatus describes one slot.
type SlotStatus struct {
	Name       string
	Type       string    // the slot's func type
	PatchID    string    // the patch serving it; "" for the baseline
	Kind       Kind      // that patch's kind; "" for the baseline
	Generation uint64    // generation at which the version became current
	Since      time.Time // when it became current
	Failures   int64     // failures reported against the serving patch
}

// PatchInfo describes one applied patch.
type PatchInfo struct {
	ID         string
	Kind       Kind
	Source     string
	Baseline   string
	Slots      []string // the slots it provides, sorted
	Serving    []string // the slots it serves now (others are shadowed by patches above)
	Generation uint64   // generation at which it was applied
	AppliedAt  time.Time
	Probation  *Probation // its probation and its counts now; nil without a [RollbackPolicy]
}

// snapshot is the immutable state published after every change. It is
// kept small so that publishing costs little: names and types are read from
// the registry's slots when Status asks.
type snapshot struct {
	gen   uint64
	slots []registry.Slot // sorted by name; shared by snapshots until a slot is registered
	names []string        // the slots' names, parallel to slots and shared with them: find's keys
	vers  []slotVer       // parallel to slots
	stack []stackItem
}

// stackItem is one applied patch in a snapshot: what Status shows, and the
// entry whose counts it reads live.
type stackItem struct {
	info PatchInfo
	e    *entry
}

// slotVer is the version a slot serves.
type slotVer struct {
	e     *entry // the serving patch; nil for the baseline
	gen   uint64
	since int64 // unix nanoseconds
}

// find returns the index of the named slot in s.slots, or -1.
func (s *snapshot) find(name string) int {
	i, ok := slices.BinarySearch(s.names, name)
	if !ok {
		return -1
	}
	return i
}

// publish builds and stores a snapshot after a change of the named slots
// (all slots when changed is nil). The caller holds the lock.
func (m *Manager) publish(changed []string) {
	prev := m.snap.Load()
	s := &snapshot{gen: m.gen, stack: make([]stackItem, len(m.stack))}
	if prev != nil && changed != nil && m.reg.Len() == len(prev.slots) {
		// Slots are never unregistered: same count, same slots.
		s.slots, s.names = prev.slots, prev.names
		s.vers = slices.Clone(prev.vers)
		for _, name := range changed {
			if i := s.find(name); i >= 0 {
				s.vers[i] = m.slotVer(s.slots[i])
			}
		}
	} else {
		s.slots = m.reg.Slots()
		s.names = make([]string, len(s.slots))
		s.vers = make([]slotVer, len(s.slots))
		for i, sl := range s.slots {
			s.names[i] = sl.Name()
			s.vers[i] = m.slotVer(sl)
		}
	}
	for i, e := range m.stack {
		var serving []string
		for _, name := range e.slots {
			if m.cur[name] == e {
				serving = append(serving, name)
			}
		}
		s.stack[i] = stackItem{e: e, info: PatchInfo{ID: e.p.ID, Kind: e.p.Kind, Source: e.p.Source, Baseline: e.p.Baseline,
			Slots: e.slots, Serving: serving, Generation: e.gen, AppliedAt: e.appliedAt}}
	}
	m.snap.Store(s)
}

func (m *Manager) slotVer(sl registry.Slot) slotVer {
	info := sl.Info()
	return slotVer{e: m.cur[info.Name], gen: info.Generation, since: info.Since.UnixNano()}
}

// Status returns the state of every slot and the patch stack. It takes no
// lock that a change holds, so it never waits for an Apply in progress.
func (m *Manager) Status() Status {
	s := m.snap.Load()
	st := Status{Generation: s.gen, Stack: make([]PatchInfo, len(s.stack)), Slots: make([]SlotStatus, len(s.slots))}
	for i, it := range s.stack {
		p := it.info
		p.Slots = slices.Clone(p.Slots)
		p.Serving = slices.Clone(p.Serving)
		p.Probation = m.probation(it.e, it.e.state.Load())
		st.Stack[i] = p
	}
	for i, sl := range s.slots {
		v := s.vers[i]
		ss := SlotStatus{Name: sl.Name(), Type: sl.Type().String(), Generation: v.gen, Since: time.Unix(0, v.since)}
		if v.e != nil {
			ss.PatchID, ss.Kind, ss.Failures = v.e.p.ID, v.e.p.Kind, v.e.failures.Load()
		}
		st.Slots[i] = ss
	}
	if m.reg.Len() != len(st.Slots) {
		// Slots registered since the last change serve their baseline.
		for _, sl := range m.reg.Slots() {
			if s.find(sl.Name()) < 0 {
				info := sl.Info()
				st.Slots = append(st.Slots, SlotStatus{Name: info.Name, Type: info.Type.String(), Since: info.Since})
			}
		}
		slices.SortFunc(st.Slots, func(a, b SlotStatus) int { return strings.Compare(a.Name, b.Name) })
	}
	return st
}

// maxSubscribeBuffer bounds the buffer of a [Manager.Subscribe] channel.
const maxSubscribeBuffer = 1 << 16

// History returns the recorded events, oldest first. The log keeps the last
// Options.HistorySize events.
func (m *Manager) History() []Event {
	m.evMu.Lock()
	defer m.evMu.Unlock()
	return m.hist.list()
}

// Subscribe returns a channel that receives every event from now on, and a
// function that cancels the subscription and closes the channel. A
// subscriber that falls more than buffer events behind misses events rather
// than slowing the manager; History keeps them. A buffer is at most
// 65536 events (a few MiB): the channel's buffer is allocated at once.
// The channel is closed by Close too.
func (m *Manager) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, min(max(buffer, 0), maxSubscribeBuffer))
	m.evMu.Lock()
	defer m.evMu.Unlock()
	if m.stopping {
		close(ch)
		return ch, func() {}
	}
	m.subs[ch] = struct{}{}
	return ch, func() {
		m.evMu.Lock()
		defer m.evMu.Unlock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
	}
}

// emit records e, fans it out to subscribers and logs it. The caller
// does not hold the change lock.
func (m *Manager) emit(e Event) {
	m.logEvent(m.record(e))
}

// emitLocked records e and fans it out now, and logs it once the change
// lock is released: the logger's handler is user code, which may call back
// into the manager.
func (m *Manager) emitLocked(e Event) {
	e = m.record(e)
	if !m.log.Enabled(context.Background(), logLevel(e)) {
		return // nothing to log: nothing to keep (Apply's cost)
	}
	m.logLater(e)
}

// logLater logs e once the change lock is released. Apart from emitLocked,
// so that e escapes only when it is logged.
func (m *Manager) logLater(e Event) {
	m.after = append(m.after, func() { m.logEvent(e) })
}

// record adds e to the history and sends it to subscribers.
func (m *Manager) record(e Event) Event {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	m.evMu.Lock()
	m.hist.add(e)
	for ch := range m.subs {
		select {
		case ch <- e:
		default:
		}
	}
	m.evMu.Unlock()
	return e
}
