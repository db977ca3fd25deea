package journal_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// ctxLoader is textLoader with a load that honours its context, as the
// script and process loaders do.
type ctxLoader struct{ textLoader }

func (l ctxLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if err := ctx.Err(); err != nil {
		return hotswap.Patch{}, err
	}
	return l.textLoader.Load(ctx, host, path)
}

// TestAttack3OpenCancelled: a start whose context ends while the journal
// applies the patches again (a SIGTERM during start-up, a start-up
// deadline) must not rewrite the record without the patches it did not
// get to: the next start applies them all again.
func TestAttack3OpenCancelled(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	run := func(ctx context.Context) (*hotswap.Manager, *journal.Journal, error) {
		reg := registry.New()
		registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
		m, err := hotswap.New(reg, hotswap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close(context.Background()) })
		if err := m.Attach(ctxLoader{textLoader{hotswap.KindScript}}); err != nil {
			t.Fatal(err)
		}
		j, err := journal.Open(ctx, m, state, journal.Options{Identity: "b1"})
		if err == nil {
			t.Cleanup(func() { j.Close() })
		}
		return m, j, err
	}
	m, j, err := run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := &server{m: m, j: j}
	id := s.apply(t, writeFile(t, src, "pushed.txt", "v1"))
	s.stop(t)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	m, j, err = run(cancelled)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with an ended context: %v, want context.Canceled", err)
	}
	if j != nil {
		j.Close()
	}
	_ = m.Close(context.Background())

	m, _, err = run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := (&server{m: m}).stack(); !slices.Equal(got, []string{id}) {
		t.Fatalf("after a start cut short, the next start applies %v, want %v", got, []string{id})
	}
}
