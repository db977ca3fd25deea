//go:build linux

package process

import (
	"context"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestLateCallerAfterSameVersionReturns: a caller holds v1's func while
// the slot goes v1 → v2 → v1 (the same file again, so the same patch ID).
// Its call is served by the slot's current version, the second load of v1.
func TestLateCallerAfterSameVersionReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	v1 := fixtureAs(t, "greet-v1.proc")
	load := func(path, replaces string) hotswap.Patch {
		t.Helper()
		p, err := e.l.Load(context.Background(), e.mgr, path)
		if err != nil {
			t.Fatal(err)
		}
		p.Replaces = replaces
		if _, err := e.mgr.Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := load(v1, "")
	late := e.s.greet.Load() // v1's adapter, first load
	p2 := load(fixtureAs(t, "greet-v2.proc"), p1.ID)
	eventually(t, 30*time.Second, "v1 retired", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p1.ID, "") })
	p3 := load(v1, p2.ID)
	if p3.ID != p1.ID {
		t.Fatalf("the same file under the same name got another ID: %s, %s", p1.ID, p3.ID)
	}
	var got string
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("late caller: %v", r)
			}
		}()
		got = late("late")
	}()
	if got != "hello v1, late" {
		t.Fatalf("late caller got %q", got)
	}
}
