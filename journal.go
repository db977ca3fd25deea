package hotpatch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// NoStateDir as Options.StateDir turns the journal off.
const NoStateDir = "-"

// stateDir is the journal's directory: Options.StateDir, or, with a patch
// directory, the directory beside it named after it with ".state" added
// ("patches" → "patches.state", "." → "../<its name>.state"), as an
// absolute path; "" for none.
func (rt *Runtime) stateDir() string {
	switch d := rt.opts.StateDir; {
	case d == NoStateDir:
		return ""
	case d != "":
		return d
	case rt.opts.Dir != "":
		d, err := filepath.Abs(rt.opts.Dir) // "." and "patches/" name the directory, not a file in it
		if err != nil {
			d = filepath.Clean(rt.opts.Dir)
		}
		return d + ".state"
	}
	return ""
}

// openJournal opens the journal, which applies again the patches of a
// restart of the same baseline, and sets the watch's Known to it. It
// returns nil without a state directory.
func (rt *Runtime) openJournal(ctx context.Context, wo *patchdir.Options) (*journal.Journal, error) {
	dir := rt.stateDir()
	if dir == "" {
		return nil, nil
	}
	jo := rt.opts.Journal
	if jo.PatchDir == "" {
		jo.PatchDir = rt.opts.Dir
	}
	restarted := rt.up != nil && rt.up.HasParent()
	if restarted {
		// A restart must not drop a patch the old process serves: fail
		// it instead, and the old process keeps serving.
		jo.RequireReplay = true
	}
	j, err := journal.Open(ctx, rt.mgr, dir, jo)
	if errors.Is(err, journal.ErrReplay) && restarted {
		return nil, fmt.Errorf("hotpatch: state directory: %w; this process does not take over: the old process, which serves the patch, keeps serving; revert the patch there (hotpatch revert, or Manager.Revert) before the next restart, or fix what refused it", err)
	}
	if err != nil {
		return nil, fmt.Errorf("hotpatch: state directory: %w", err)
	}
	if wo.Known == nil {
		wo.Known = j.Known
	}
	if rt.up != nil {
		// Once a new process took over, it owns the state directory: a
		// patch this one applies while it drains must not write its
		// record, loaded at its start, over the new baseline's.
		go func() {
			select {
			case <-rt.up.Exit(): // handed over, or Shutdown began
				_ = j.Close()
			case <-rt.closed:
			}
		}()
	}
	return j, nil
}

// Journal returns the journal of the applied patches, or nil before
// [Runtime.Start] and without a state directory. [journal.Journal.Sync]
// waits until a change is on disk.
func (rt *Runtime) Journal() *journal.Journal {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.journal
}
