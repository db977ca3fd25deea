package journal_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// slowOnceLoader is textLoader whose first load runs out of its
// context's time, as a load may while a restart loads the machine.
type slowOnceLoader struct {
	textLoader
	calls atomic.Int32
}

func (l *slowOnceLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if l.calls.Add(1) == 1 {
		<-ctx.Done()
		return hotswap.Patch{}, ctx.Err()
	}
	return l.textLoader.Load(ctx, host, path)
}

// TestReplayRetriesTimeout: a patch whose load runs out of LoadTimeout
// at a restart is tried once more before it is dropped from the record
// for good (it was lost by one slow moment).
func TestReplayRetriesTimeout(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := first.apply(t, writeFile(t, src, "a.txt", "A"))
	first.stop(t)

	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	l := &slowOnceLoader{textLoader: textLoader{hotswap.KindScript}}
	if err := m.Attach(l); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(context.Background(), m, state, journal.Options{Identity: "exe:A", LoadTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s := &server{m: m, j: j}
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("after a load that timed out once, the stack is %v, want [%s]", got, a)
	}
	if got := greet.Load()(); got != "A" {
		t.Errorf("greet = %q, want A", got)
	}
	if n := l.calls.Load(); n != 2 {
		t.Errorf("%d loads, want 2", n)
	}
}

// refusingLoader is textLoader that refuses a file holding bad.
type refusingLoader struct {
	textLoader
	bad string
}

func (l refusingLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	p, err := l.textLoader.Load(ctx, host, path)
	if err == nil && p.Impls["example.Greet"].(func() string)() == l.bad {
		return hotswap.Patch{}, errors.New("refused on purpose")
	}
	return p, err
}

// TestRequireReplay: with RequireReplay, a patch of the record that
// cannot be applied again fails Open with ErrReplay, naming it, and the
// record stays as it was: the next start applies both patches again.
func TestRequireReplay(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	first := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := first.apply(t, writeFile(t, src, "a.txt", "A"))
	b := first.apply(t, writeFile(t, src, "b.txt", "B"))
	first.stop(t)

	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(refusingLoader{textLoader{hotswap.KindScript}, "B"}); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(context.Background(), m, state, journal.Options{Identity: "exe:A", RequireReplay: true})
	if err == nil {
		j.Close()
		t.Fatal("Open with a patch that cannot be applied again succeeded")
	}
	if !errors.Is(err, journal.ErrReplay) || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), "refused on purpose") {
		t.Errorf("Open: %v; want ErrReplay naming %s and why", err, b)
	}
	if st := m.Status().Stack; len(st) != 1 || st[0].ID != a {
		t.Errorf("stack after the failed Open: %v, want [%s]", st, a)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	third := start(t, state, "exe:A", hotswap.KindScript, journal.Options{RequireReplay: true})
	if got := third.stack(); !slices.Equal(got, []string{a, b}) {
		t.Errorf("the next start applies %v, want [%s %s]: the record was not kept", got, a, b)
	}
}
