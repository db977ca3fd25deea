package hotswap_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// This is the README quick start: register a slot, apply a patch, revert it.
func Example() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string {
		return "hello, " + name
	})

	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	defer mgr.Close(context.Background())

	fmt.Println(greet.Load()("gopher"))

	ctx := context.Background()
	applied, err := mgr.Apply(ctx, hotswap.Patch{
		ID:   "greet-v2",
		Kind: hotswap.KindManual,
		Impls: map[string]any{
			"example.Greet": func(name string) string { return "hello again, " + name },
		},
	})
	if err != nil {
		fmt.Println("apply:", err)
		return
	}
	fmt.Println(greet.Load()("gopher"), "- generation", applied.Generation)

	if err := mgr.Revert(ctx, "greet-v2"); err != nil {
		fmt.Println("revert:", err)
		return
	}
	fmt.Println(greet.Load()("gopher"), "- generation", mgr.Generation())
	// Output:
	// hello, gopher
	// hello again, gopher - generation 1
	// hello, gopher - generation 2
}

// A patch whose implementation has the wrong type is refused, and the
// previous version keeps serving.
func ExampleManager_Apply_typeMismatch() {
	reg := registry.New()
	price := registry.MustRegister(reg, "billing.Price", func(cents int) int { return cents })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	defer mgr.Close(context.Background())

	_, err = mgr.Apply(context.Background(), hotswap.Patch{
		ID:    "price-v2",
		Impls: map[string]any{"billing.Price": func(cents int64) int64 { return cents * 2 }},
	})
	fmt.Println(err)
	fmt.Println(price.Load()(100))
	// Output:
	// apply patch "price-v2": hotswap: slot billing.Price: implementation has type func(int64) int64, slot has type func(int) int
	// 100
}

// wordLoader is a loader of a kind of its own: the file's name (without
// .word) is the greeting. It asks the host for the slot's exact type and
// refuses with the errors every loader uses.
type wordLoader struct{}

func (wordLoader) Kind() hotswap.Kind              { return "word" }
func (wordLoader) Match(path string) bool          { return strings.HasSuffix(path, ".word") }
func (wordLoader) Close(ctx context.Context) error { return nil }
func (wordLoader) Load(_ context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	s, ok := host.Slot("example.Greet")
	if !ok {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, hotswap.ErrUnknownSlot)
	}
	word := strings.TrimSuffix(filepath.Base(path), ".word")
	impl := func(name string) string { return word + ", " + name }
	if got := reflect.TypeOf(impl); got != s.Type() {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, &hotswap.TypeMismatchError{Slot: s.Name(), Want: s.Type(), Got: got})
	}
	return hotswap.Patch{ID: filepath.Base(path), Impls: map[string]any{"example.Greet": impl}}, nil
}

// A loader attached to a manager is owned by it: Load runs it with the
// manager as its host, and Close closes it after retiring the patches.
func ExampleManager_Attach() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	defer mgr.Close(context.Background())
	l := wordLoader{}
	if err := mgr.Attach(l); err != nil {
		fmt.Println("attach:", err)
		return
	}

	ctx := context.Background()
	p, err := mgr.Load(ctx, l, "patches/howdy.word")
	if err != nil {
		fmt.Println("load:", err)
		return
	}
	if _, err := mgr.Apply(ctx, p); err != nil {
		_ = mgr.Release(p)
		fmt.Println("apply:", err)
		return
	}
	fmt.Println(greet.Load()("gopher"), "- kind", p.Kind)
	// Output:
	// howdy, gopher - kind word
}

// Count the calls of a slot whose func returns an error for the probation
// of the patch that serves it; a patch that fails too often during its
// window is rolled back.
func ExampleManager_Guard() {
	reg := registry.New()
	charge := registry.MustRegister(reg, "billing.Charge", func(cents int) error { return nil })
	mgr, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background())
	events, cancel := mgr.Subscribe(10)
	defer cancel()

	ctx := context.Background()
	if _, err := mgr.Apply(ctx, hotswap.Patch{ID: "charge-v2", Impls: map[string]any{
		"billing.Charge": func(cents int) error { return fmt.Errorf("charge %d: card network down", cents) },
	}}); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		err := mgr.Guard(ctx, "billing.Charge", func() error { return charge.Load()(100) })
		fmt.Println(err)
	}
	for e := range events {
		if e.Type == hotswap.EventRolledBack {
			fmt.Println(e.PatchID, "rolled back after", e.Probation.Failures, "failures in", e.Probation.Calls, "calls")
			break
		}
	}
	// Output:
	// charge 100: card network down
	// charge 100: card network down
	// charge 100: card network down
	// charge-v2 rolled back after 3 failures in 3 calls
}
