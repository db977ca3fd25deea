package hotpatch

import (
	"fmt"
	"log/slog"

	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// newUpgrader makes the upgrader of Options.Baseline: its events go to
// the manager's history and its records to the runtime's logger, unless
// the options name others.
func newUpgrader(opts *baseline.Options, log *slog.Logger, mgr *hotswap.Manager) (*baseline.Upgrader, error) {
	if opts == nil {
		return nil, nil
	}
	bo := *opts // never write into the caller's copy
	if bo.Events == nil {
		bo.Events = mgr
	}
	if bo.Logger == nil {
		bo.Logger = log
	}
	up, err := baseline.New(bo)
	if err != nil {
		return nil, fmt.Errorf("hotpatch: %w", err)
	}
	return up, nil
}

// Upgrader returns the runtime's baseline step, or nil without
// Options.Baseline. Take the listeners from it ([baseline.Upgrader.Listen]),
// add the drain hooks (OnDrain), call Ready once [Runtime.Start] has
// applied the patches, serve the listeners only after Ready returns, and
// when its Exit channel closes, Shutdown it and return.
func (rt *Runtime) Upgrader() *baseline.Upgrader { return rt.up }
