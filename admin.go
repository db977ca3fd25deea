package hotpatch

import (
	"context"
	"fmt"
	"time"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// startAdmin starts the admin API of Options.Admin, if set, on the
// runtime's manager, bundle loader, journal and baseline step; with the
// baseline step, its listeners come from the upgrader, so the next
// process inherits them. Start calls it, after the journal is open.
func (rt *Runtime) startAdmin() error {
	if rt.opts.Admin == nil {
		return nil
	}
	ao := *rt.opts.Admin // never write into the caller's copy
	if ao.Logger == nil {
		ao.Logger = rt.log
	}
	if ao.Listen == nil && rt.up != nil {
		ao.Listen = rt.up.Listen
	}
	tgt := admin.Target{Manager: rt.mgr}
	if bl := rt.Bundles(); bl != nil {
		tgt.Bundles = bl
	}
	if rt.journal != nil {
		tgt.Journal = rt.journal
	}
	if rt.up != nil {
		tgt.Restarter = rt.up
	}
	if rec, err := fingerprint.Fingerprint(); err == nil {
		tgt.Fingerprint = rec.Hash()
	}
	srv, err := admin.Start(tgt, ao)
	if err != nil {
		return fmt.Errorf("hotpatch: %w", err)
	}
	rt.mu.Lock()
	rt.admin = srv
	rt.mu.Unlock()
	return nil
}

// adminDrain bounds the wait of Close for the admin calls under way;
// their connections are closed after it.
const adminDrain = 30 * time.Second

// closeAdmin stops the admin API, if it runs: first, so that no call
// changes the patches while the rest closes.
func closeAdmin(srv *admin.Server) error {
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminDrain)
	defer cancel()
	return srv.Close(ctx)
}

// Admin returns the admin API's server, or nil before [Runtime.Start] and
// without Options.Admin.
func (rt *Runtime) Admin() *admin.Server {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.admin
}
