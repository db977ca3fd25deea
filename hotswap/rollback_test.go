package hotswap_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

func TestRollBack(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	if _, err := f.m.Apply(ctx, greetPatch("p1", "hi")); err != nil {
		t.Fatal(err)
	}
	why := errors.New("its process keeps dying")
	if err := f.m.RollBack(ctx, "p1", why); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "hello, x" {
		t.Fatalf("after RollBack: %q", got)
	}
	var found bool
	for _, ev := range f.m.History() {
		if ev.Type == hotswap.EventRolledBack && ev.PatchID == "p1" && errors.Is(ev.Err, why) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no rolled-back event carrying the reason: %v", f.m.History())
	}
	if err := f.m.RollBack(ctx, "p1", why); !errors.Is(err, hotswap.ErrUnknownPatch) {
		t.Fatalf("second RollBack = %v", err)
	}
}
