package hotswap

import (
	"context"
	"fmt"
)

// RollBack removes the patch with the given ID from the stack like
// [Manager.Revert], but records a rolled-back event carrying why: for
// loaders that supervise a patch's code (a subprocess that keeps dying) and
// give up on it.
func (m *Manager) RollBack(ctx context.Context, id string, why error) error {
	if err := m.lock(ctx); err != nil {
		return fmt.Errorf("roll back patch %q: %w", id, err)
	}
	defer m.unlock()
	return m.revert(id, EventRolledBack, why)
}

// discard runs the Retire hook of a patch that Apply refused, in the
// background, or at once if the manager is shutting down.
func (m *Manager) discard(p Patch) {
	if p.Retire == nil {
		return
	}
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.RetireTimeout)
		defer cancel()
		if err := callHook(ctx, p.Retire); err != nil {
			m.log.Warn("hotswap: releasing a refused patch", "patch", p.ID, "err", err)
		}
	}
	if !m.goAsync(run) {
		run()
	}
}
