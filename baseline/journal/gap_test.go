package journal

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestMissedEvents follows a manager through a subscription of one event,
// so that most events are dropped: the journal sees the gaps in the
// generations and rebuilds from the stack, and what it writes is the
// manager's stack.
func TestMissedEvents(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	j, err := open(context.Background(), m, filepath.Join(t.TempDir(), "state"), Options{Identity: "exe:A"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("w%d-%d", w, i%5)
				impl := func() string { return id }
				if _, err := m.Apply(ctx, hotswap.Patch{ID: id, Impls: map[string]any{"example.Greet": impl}}); err != nil {
					_ = m.Revert(ctx, id)
				}
			}
		})
	}
	wg.Wait()
	if err := j.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := j.read()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range st.find("exe:A").Patches {
		got = append(got, e.ID)
	}
	for _, p := range m.Status().Stack {
		want = append(want, p.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("journal holds %v, the stack is %v", got, want)
	}
}
