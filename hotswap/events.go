package hotswap

import (
	"fmt"
	"strings"
	"time"
)

// EventType says what happened.
type EventType string

// The events a manager records.
const (
	EventApplied    EventType = "applied"     // a patch became part of the stack
	EventReverted   EventType = "reverted"    // a patch left the stack on request
	EventRolledBack EventType = "rolled-back" // a patch left the stack after repeated failures
	EventRejected   EventType = "rejected"    // a patch (or a file meant to become one) was refused; Err says why
	EventRetired    EventType = "retired"     // a patch's resources were released; Err is its Retire error, if any
	EventCommitted  EventType = "committed"   // a patch's probation ended clean; Probation has the evidence

	// Recorded by loaders and tools through [Host.Record]:
	EventRestarted EventType = "restarted" // what serves a patch was restarted (a process that exited); Err says why
	EventWarning   EventType = "warning"   // something an operator should know; Note or Err says what

	// EventSuperseded records a patch applied on an older baseline that
	// is not applied again after a baseline step, because the new
	// baseline contains its fix (recorded by the journal of package
	// baseline/journal, once per patch). It is not a rejection: Note says
	// which baselines.
	EventSuperseded EventType = "superseded"
)

// Event types are open: a loader or tool may record types of its own (the
// directory glue records "watch-error" and "watch-resumed").

// Event is one entry of the manager's history.
type Event struct {
	Type       EventType
	Time       time.Time
	Generation uint64     // the manager's generation after the event; for retired, that of the change that retired the patch
	PatchID    string     // the patch concerned, if any
	Kind       Kind       // its kind, if known
	Source     string     // its source (file, origin), if known
	Slots      []string   // the slots concerned, sorted
	Err        error      // why, for rejected, rolled-back, watch-error and failed retire events
	Note       string     // what happened, when it is not a failure (a revert at Close, a watch that resumed)
	Probation  *Probation // the evidence, for committed events and the rolled-back events of a failed probation
	// Took is, for an applied event, how long the patch took to serve:
	// from the start of [Manager.Load] for a patch that came through it
	// (reading, compiling or starting its code, then the swap), else from
	// the call of [Manager.Apply].
	Took time.Duration
}

// String renders the event on one line for logs and terminals.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s gen=%d %s", e.Time.Format(time.RFC3339Nano), e.Generation, e.Type)
	if e.PatchID != "" {
		fmt.Fprintf(&b, " patch=%s", e.PatchID)
	}
	if e.Kind != "" {
		fmt.Fprintf(&b, " kind=%s", e.Kind)
	}
	if e.Source != "" {
		fmt.Fprintf(&b, " source=%s", e.Source)
	}
	if len(e.Slots) > 0 {
		fmt.Fprintf(&b, " slots=%s", strings.Join(e.Slots, ","))
	}
	if e.Took > 0 {
		fmt.Fprintf(&b, " took=%s", e.Took)
	}
	if e.Note != "" {
		fmt.Fprintf(&b, " note=%q", e.Note)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%q", e.Err.Error())
	}
	return b.String()
}

// history is a bounded ring of events. It grows as events come, up to
// size, so that a large bound (HistorySize) costs nothing until used.
type history struct {
	size int // the bound
	buf  []Event
	next int // where the next event goes, once buf is full
}

func (h *history) add(e Event) {
	if len(h.buf) < h.size {
		h.buf = append(h.buf, e)
		return
	}
	if h.size == 0 {
		return
	}
	h.buf[h.next] = e
	h.next = (h.next + 1) % h.size
}

func (h *history) list() []Event {
	out := make([]Event, 0, len(h.buf))
	out = append(out, h.buf[h.next:]...)
	return append(out, h.buf[:h.next]...)
}
