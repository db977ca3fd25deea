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
	if err := m.lock(ctx, "RollBack"); err != nil {
		return fmt.Errorf("roll back patch %q: %w", id, err)
	}
	defer m.unlock()
	return m.revert(id, EventRolledBack, why)
}
