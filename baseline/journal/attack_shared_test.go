package journal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackTwoServersOneStateDir: a second server opens the state
// directory while the first still runs (a baseline step's overlap, or a
// second server started by mistake). The later one takes the journal
// over: the first no longer writes it, says so, and its Sync fails, so
// that it cannot overwrite the record of the one that took over.
func TestAttackTwoServersOneStateDir(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	first.apply(t, writeFile(t, src, "a.txt", "A"))

	second := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := second.stack()
	b := second.apply(t, writeFile(t, src, "b.txt", "B"))

	// The first server applies a patch after the take-over.
	l := first.m.Loaders()[0]
	p, err := first.m.Load(context.Background(), l, writeFile(t, src, "c.txt", "C"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := first.j.Sync(ctx); !errors.Is(err, journal.ErrTakenOver) {
		t.Errorf("Sync of the server whose journal was taken over = %v, want %v", err, journal.ErrTakenOver)
	}
	if ev := first.events(journal.EventError); len(ev) != 1 || !strings.Contains(ev[0].Err.Error(), "took over") {
		t.Errorf("journal-error events of the first server: %v; want one saying another process took over", ev)
	}
	first.stop(t)
	second.stop(t)

	third := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if want := append(a, b); !slices.Equal(third.stack(), want) {
		t.Fatalf("restart applied %v, want the stack of the server that took over, %v", third.stack(), want)
	}
}

// TestAttackTakeOverByAFailedStep: the process that took the journal
// over ends (a new binary that exits at start or never becomes ready,
// and is stopped): the first, still serving, takes the journal back at
// its next change, and a restart of its baseline applies its whole
// stack.
func TestAttackTakeOverByAFailedStep(t *testing.T) {
	t.Parallel()
	for _, ident := range []string{"exe:A", "exe:B"} { // a restart, a new baseline
		t.Run(ident, func(t *testing.T) {
			t.Parallel()
			state, src := stateDir(t), t.TempDir()
			first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			a := first.apply(t, writeFile(t, src, "a.txt", "A"))
			failed := start(t, state, ident, hotswap.KindScript, journal.Options{})
			failed.stop(t)

			b := first.apply(t, writeFile(t, src, "b.txt", "B")) // Syncs, and fails the test if it cannot
			if ev := first.events(journal.EventError); len(ev) != 0 {
				t.Errorf("journal-error events %v, want none: the process that took over is gone", ev)
			}
			first.stop(t)
			again := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			if got := again.stack(); !slices.Equal(got, []string{a, b}) {
				t.Fatalf("restart applied %v, want [%s %s]", got, a, b)
			}
		})
	}
}

// TestAttackTwoServersRace: two servers on one state directory apply
// and revert patches at the same time: the journal stays readable, and a
// restart applies the stack of the one that opened it last.
func TestAttackTwoServersRace(t *testing.T) {
	t.Parallel()
	state := stateDir(t)
	first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	second := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	var wg sync.WaitGroup
	for i, s := range []*server{first, second} {
		src := t.TempDir()
		wg.Go(func() {
			ctx := context.Background()
			l := s.m.Loaders()[0]
			for k := range 20 {
				p, err := s.m.Load(ctx, l, writeFile(t, src, fmt.Sprintf("s%d-%d.txt", i, k), fmt.Sprint(i, k)))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.m.Apply(ctx, p); err != nil {
					t.Error(err)
					return
				}
				if k%2 == 1 {
					if err := s.m.Revert(ctx, p.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	second.sync(t)
	want := second.stack()
	first.stop(t)
	second.stop(t)
	third := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if ev := third.events(journal.EventCorrupt); len(ev) != 0 {
		t.Fatalf("journal corrupt: %v", ev)
	}
	if got := third.stack(); !slices.Equal(got, want) {
		t.Fatalf("restart applied %v, want the second server's stack %v", got, want)
	}
}

// TestSyncToAnswersForItsOwnChange: a baseline step's new process takes
// the journal over between the old process's write of a push and that
// push's Sync, and a later push cannot be written. The earlier push is
// in the record the new process applies again: SyncTo for its generation
// succeeds (the admin API answered it 500, "will not be applied again
// after a restart", and the new process then served it); the later one's
// fails, as does Sync, which waits for every change.
func TestSyncToAnswersForItsOwnChange(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := first.apply(t, writeFile(t, src, "a.txt", "A")) // written
	genA := first.m.Generation()

	second := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := second.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("the process that took over applied %v, want [%s]", got, a)
	}
	l := first.m.Loaders()[0]
	p, err := first.m.Load(context.Background(), l, writeFile(t, src, "c.txt", "C"))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := first.m.Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := first.j.SyncTo(ctx, genA); err != nil {
		t.Errorf("SyncTo(%d) for the patch written before the take-over = %v, want nil", genA, err)
	}
	if err := first.j.SyncTo(ctx, applied.Generation); !errors.Is(err, journal.ErrTakenOver) {
		t.Errorf("SyncTo(%d) for the patch applied after the take-over = %v, want %v", applied.Generation, err, journal.ErrTakenOver)
	}
	if err := first.j.Sync(ctx); !errors.Is(err, journal.ErrTakenOver) {
		t.Errorf("Sync after the take-over = %v, want %v", err, journal.ErrTakenOver)
	}
}
