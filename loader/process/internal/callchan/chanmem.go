package callchan

import (
	"context"
	"sync"
)

// MemBudget bounds the bytes of result frames the host holds at once
// across calls: frames read from a plugin but not yet decoded. The leader
// asks for a large frame's size before reading its body and waits while the
// budget is spent, which leaves the frame in the socket: the plugin's
// writes block until memory is released. One frame alone always fits (its
// request is capped at the whole budget), so a call never waits for
// itself.
type MemBudget struct {
	max int

	mu   sync.Mutex    // guards used and freed
	used int           // bytes admitted and not released
	peak int           // the most used at once
	free chan struct{} // closed (and replaced) when bytes are released
}

// DefaultResultMemory is the budget of result frames in flight when none
// is configured: two frames of the largest size.
const DefaultResultMemory = 2 * maxFrame

// minCharge is the size under which a frame is not counted: small frames
// cost little and are the common case.
const minCharge = 64 << 10

// NewMemBudget returns a budget of max bytes.
func NewMemBudget(max int) *MemBudget {
	if max < maxFrame {
		max = maxFrame
	}
	return &MemBudget{max: max, free: make(chan struct{})}
}

// acquire waits until n bytes fit and counts them, or until ctx ends. It
// returns the amount counted, which the caller passes to release.
func (m *MemBudget) acquire(ctx context.Context, n int) (int, error) {
	if m == nil || n < minCharge {
		return 0, nil
	}
	n = min(n, m.max)
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		m.mu.Lock()
		if m.used == 0 || m.used+n <= m.max {
			m.used += n
			m.peak = max(m.peak, m.used)
			m.mu.Unlock()
			return n, nil
		}
		free := m.free
		m.mu.Unlock()
		select {
		case <-free:
		case <-done:
			return 0, ctx.Err()
		}
	}
}

// release returns n bytes counted by acquire.
func (m *MemBudget) release(n int) {
	if m == nil || n == 0 {
		return
	}
	m.mu.Lock()
	m.used -= n
	close(m.free)
	m.free = make(chan struct{})
	m.mu.Unlock()
}

// InUse returns the bytes counted now.
func (m *MemBudget) InUse() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// PeakUse returns the most bytes counted at once.
func (m *MemBudget) PeakUse() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}
