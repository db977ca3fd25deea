package journal_test

import (
	"context"
	"slices"
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
