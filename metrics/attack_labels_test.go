package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackInvalidUTF8Labels: patch IDs, kinds and event types are any
// Go string (a file name on Linux is any bytes). A label value that is not
// UTF-8 must not panic the collector's goroutine or a scrape, which would
// take the whole process down.
func TestAttackInvalidUTF8Labels(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	if err := f.apply(greet("bad\xff-id", hotswap.Kind("k\xfe"))); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Record(hotswap.Event{Type: "t\xff", Kind: "k\xfd"}); err != nil {
		t.Fatal(err)
	}
	f.sync()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "hotpatch_slot_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "patch_id" && l.GetValue() == "bad\uFFFD-id" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("slot_info has no series with the patch ID, its bad byte replaced by U+FFFD")
	}
}

// TestAttackKindsBounded: Patch.Kind is open and set by any code that
// applies a patch; a thousand distinct kinds (and a thousand patch IDs)
// must not make a thousand series.
func TestAttackKindsBounded(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	ctx := context.Background()
	for i := range 1000 {
		id := fmt.Sprintf("p%d", i)
		if err := f.apply(greet(id, hotswap.Kind(fmt.Sprintf("kind%d", i)))); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Revert(ctx, id); err != nil {
			t.Fatal(err)
		}
		// applied, reverted, retired: wait for them, so that no burst
		// overflows the subscription.
		if !f.c.waitSeen(3*(i+1), hangAfter) {
			t.Fatalf("the collector did not handle the events of %s", id)
		}
	}
	for _, name := range []string{"hotpatch_applies_total", "hotpatch_reverts_total"} {
		if n := testutil.CollectAndCount(f.c, name); n > maxKinds+1 {
			t.Errorf("%s has %d series after 1000 kinds, want at most %d", name, n, maxKinds+1)
		}
	}
	// The framework's four kinds have their labels from the start.
	if got := testutil.ToFloat64(f.c.applies.WithLabelValues(KindOther)); got != 1000-(maxKinds-4) {
		t.Errorf("applies_total{kind=%q} = %v, want %d", KindOther, got, 1000-(maxKinds-4))
	}
	if n := testutil.CollectAndCount(f.c, "hotpatch_slot_info"); n != 2 {
		t.Errorf("slot_info has %d series, want one per slot (2)", n)
	}
}

// TestAttackLongLabel: a patch ID of a megabyte must not make a label of
// a megabyte: Prometheus servers with label_value_length_limit refuse the
// whole scrape for one such label.
func TestAttackLongLabel(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	long := strings.Repeat("é", 1<<19)
	if err := f.apply(greet(long, hotswap.Kind(long))); err != nil {
		t.Fatal(err)
	}
	f.sync()
	mfs, err := gather(f.c)
	if err != nil {
		t.Fatal(err)
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if len(l.GetValue()) > maxLabelLen {
					t.Errorf("%s{%s} is %d bytes long, want at most %d", name, l.GetName(), len(l.GetValue()), maxLabelLen)
				}
			}
		}
	}
}
