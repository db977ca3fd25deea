package watcher

import (
	"crypto/sha256"
	"slices"
)

type sum = [sha256.Size]byte

// tracker holds two views of the directory, the disk's and the
// consumer's, and queues the names on which they differ. Delivering the
// head of the queue moves the consumer's view to the disk's for that
// name. Because the queue holds names, not events, any number of changes
// to one file while the consumer is slow collapse into at most one event,
// and a file that came and went unseen produces none.
//
// A tracker is used by one goroutine only.
type tracker struct {
	disk      map[string]sum // settled content of each present file
	delivered map[string]sum // what the consumer was last told is present
	queue     []string       // names whose views may differ, oldest first
	queued    map[string]bool
}

func newTracker() *tracker {
	return &tracker{
		disk:      make(map[string]sum),
		delivered: make(map[string]sum),
		queued:    make(map[string]bool),
	}
}

// set records that name is present with content s.
func (t *tracker) set(name string, s sum) {
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
func (t *tracker) head() (name string, op Op, s sum, ok bool) {
	for len(t.queue) > 0 {
		name = t.queue[0]
		d, onDisk := t.disk[name]
		c, told := t.delivered[name]
		switch {
		case onDisk && (!told || c != d):
			return name, Apply, d, true
		case !onDisk && told:
			return name, Remove, sum{}, true
		}
		t.pop()
	}
	return "", 0, sum{}, false
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
