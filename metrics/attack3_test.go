package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttack3LongSlotNames: slot names have no length limit; two long
// names that share their first 128 bytes must not become one label,
// which would make two series of the same labels and fail every scrape.
func TestAttack3LongSlotNames(t *testing.T) {
	reg := registry.New()
	prefix := "shop." + strings.Repeat("x", 200)
	registry.MustRegister(reg, prefix+".A", func() int { return 1 })
	registry.MustRegister(reg, prefix+".B", func() int { return 2 })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := New(m)
	t.Cleanup(func() {
		c.Close()
		m.Close(context.Background())
	})
	check := func(when string) {
		t.Helper()
		mfs, err := gather(c)
		if err != nil {
			t.Fatalf("scrape %s: %v", when, err)
		}
		if n := len(mfs["hotpatch_slot_info"].GetMetric()); n != 2 {
			t.Errorf("%s: slot_info has %d series, want 2", when, n)
		}
		for _, mf := range mfs {
			for _, s := range mf.GetMetric() {
				for _, l := range s.GetLabel() {
					if len(l.GetValue()) > maxLabelLen {
						t.Errorf("%s: %s{%s} is %d bytes, want at most %d", when, mf.GetName(), l.GetName(), len(l.GetValue()), maxLabelLen)
					}
				}
			}
		}
	}
	check("on the baselines")
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "both", Kind: hotswap.KindManual, Impls: map[string]any{
		prefix + ".A": func() int { return 3 }, prefix + ".B": func() int { return 4 }}}); err != nil {
		t.Fatal(err)
	}
	check("with one patch serving both")
}
