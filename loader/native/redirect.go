package native

import (
	"fmt"
	"slices"
	"sync"
)

// restorer undoes one redirection: a *redirectEntry.Redirection.
type restorer interface{ Restore() error }

// redirectFunc makes one redirection: redirect.Redirect.
type redirectFunc func(target, replacement any) (restorer, error)

// redirectEntry is one entry of a patch's HotpatchRedirects.
type redirectEntry struct {
	name                string  // as the patch names it: "example.com/app/billing.Round"
	target, replacement any     // func values of identical types
	entry               uintptr // the target's code address: what identifies it
}

// redirectSet is the redirections of one loaded patch.
type redirectSet struct {
	list   []*redirectEntry
	pushed bool // guarded by redirTable.mu
}

// redirTable stacks the redirections of this loader's patches per target,
// as Linux livepatch stacks function replacements: the top-most applied
// patch that redirects a target is the one its entry jumps to. redirect.Redirect
// does not stack (a second redirection of a target is refused), so moving
// from one patch's replacement to another's is a Restore then a Redirect;
// in between, for a moment, calls run the target's original code.
type redirTable struct {
	mu      sync.Mutex // guards targets and every redirectSet.pushed
	targets map[uintptr]*redirTarget
}

type redirTarget struct {
	stack  []*redirectEntry // bottom first; the top one is live
	active restorer         // the live redirection, nil when the original code runs
}

// push makes set's redirections live on top of whatever this loader's
// other patches redirect. All or nothing: on error, what it changed is
// undone. Pushing a pushed set does nothing.
func (t *redirTable) push(set *redirectSet, redirect redirectFunc) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if set.pushed {
		return nil
	}
	for i, r := range set.list {
		if err := t.pushOne(r, redirect); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = t.popOne(set.list[j], redirect)
			}
			return fmt.Errorf("%w: %s: %w", ErrRedirect, r.name, err)
		}
	}
	set.pushed = true
	return nil
}

func (t *redirTable) pushOne(r *redirectEntry, redirect redirectFunc) error {
	tg := t.targets[r.entry]
	if tg == nil {
		tg = &redirTarget{}
		t.targets[r.entry] = tg
	}
	if tg.active != nil {
		if err := tg.active.Restore(); err != nil {
			return err
		}
		tg.active = nil
	}
	act, err := redirect(r.target, r.replacement)
	if err != nil {
		// Put the previous top back, if there is one.
		if n := len(tg.stack); n > 0 {
			if prev, perr := redirect(tg.stack[n-1].target, tg.stack[n-1].replacement); perr == nil {
				tg.active = prev
			} else {
				err = joinErrors(err, fmt.Errorf("restoring the previous redirection of %s: %w", r.name, perr))
			}
		}
		return err
	}
	tg.stack = append(tg.stack, r)
	tg.active = act
	return nil
}

// pop removes set's redirections. Where one was live, the target goes to
// the next redirection down its stack, or to its original code. Popping a
// set that is not pushed does nothing.
func (t *redirTable) pop(set *redirectSet, redirect redirectFunc) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !set.pushed {
		return nil
	}
	set.pushed = false
	var errs []error
	for i := len(set.list) - 1; i >= 0; i-- {
		if err := t.popOne(set.list[i], redirect); err != nil {
			errs = append(errs, fmt.Errorf("%w: restoring %s: %w", ErrRedirect, set.list[i].name, err))
		}
	}
	return joinErrors(errs...)
}

func (t *redirTable) popOne(r *redirectEntry, redirect redirectFunc) error {
	tg := t.targets[r.entry]
	if tg == nil {
		return nil
	}
	i := slices.Index(tg.stack, r)
	if i < 0 {
		return nil
	}
	top := i == len(tg.stack)-1
	tg.stack = slices.Delete(tg.stack, i, i+1)
	if !top {
		return nil // shadowed: nothing live changes
	}
	if tg.active != nil {
		if err := tg.active.Restore(); err != nil {
			return err
		}
		tg.active = nil
	}
	if n := len(tg.stack); n > 0 {
		act, err := redirect(tg.stack[n-1].target, tg.stack[n-1].replacement)
		if err != nil {
			return fmt.Errorf("going back to the redirection below: %w", err)
		}
		tg.active = act
	}
	if len(tg.stack) == 0 {
		delete(t.targets, r.entry)
	}
	return nil
}
