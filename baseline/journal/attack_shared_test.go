package journal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
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
