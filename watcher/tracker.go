package watcher

import (
	"crypto/sha256"
	"slices"
)

type sum = [sha256.Size]byte

// state is what the disk holds at a name: a regular file with content sum,
// or, when skipped, one that was not read for its size.
type state struct {
	sum     sum
	size    int64 // the size of a skipped file; zero otherwise
	skipped bool
}

// tracker holds two views of the directory, the disk's and the
// consumer's, and queues the names on which they differ. Delivering the
// head of the queue moves the consumer's view to the disk's for that
// name. Because the queue holds names, not events, any number of changes
// to one file while the consumer is slow collapse into at most one event,
// and a file that came and went unseen produces none.
//
// A tracker is used by one goroutine only.
type tracker struct {
	disk      map[string]state // settled state of each present file
	delivered map[string]state // what the consumer was last told is present
	queue     []string         // names whose views may differ, oldest first
	queued    map[string]bool
}

func newTracker() *tracker {
	return &tracker{
		disk:      make(map[string]state),
		delivered: make(map[string]state),
		queued:    make(map[string]bool),
	}
}

// set records that name is present with content s.
func (t *tracker) set(name string, s sum) { t.put(name, state{sum: s}) }

// skip records that name is a regular file of size bytes that is not read.
func (t *tracker) skip(name string, size int64) { t.put(name, state{size: size, skipped: true}) }

func (t *tracker) put(name string, s state) {
	if old, ok := t.disk[name]; ok && old == s {
		return
	}
	t.disk[name] = s
	t.enqueue(name)
}

// unset records that name is absent.
func (t *tracker) unset(name string) {
	if _, ok := t.disk[name]; !ok {
		return
	}
	delete(t.disk, name)
	t.enqueue(name)
}

// unsetAll records that every file is gone.
func (t *tracker) unsetAll() {
	names := make([]string, 0, len(t.disk))
	for name := range t.disk {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.unset(name)
	}
}

func (t *tracker) enqueue(name string) {
	if !t.queued[name] {
		t.queued[name] = true
		t.queue = append(t.queue, name)
	}
}

// head returns the next change to deliver, dropping queued names whose
// views have converged meanwhile. ok is false when there is none.
func (t *tracker) head() (name string, op Op, s state, ok bool) {
	for len(t.queue) > 0 {
		name = t.queue[0]
		d, onDisk := t.disk[name]
		c, told := t.delivered[name]
		switch {
		case onDisk && (!told || c != d) && d.skipped:
			return name, Skip, d, true
		case onDisk && (!told || c != d):
			return name, Apply, d, true
		case !onDisk && told:
			return name, Remove, state{}, true
		}
		t.pop()
	}
	return "", 0, state{}, false
}

// ack marks the change last returned by head as delivered.
func (t *tracker) ack() {
	name := t.queue[0]
	if d, ok := t.disk[name]; ok {
		t.delivered[name] = d
	} else {
		delete(t.delivered, name)
	}
	t.pop()
}

func (t *tracker) pop() {
	delete(t.queued, t.queue[0])
	t.queue[0] = ""
	t.queue = t.queue[1:]
}
