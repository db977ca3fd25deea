package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackTwoLoadersOfAKind: two loaders of one kind (two native loaders
// with options of their own) are allowed by Attach; two series with the
// same labels would fail the whole scrape. Their memory is summed.
func TestAttackTwoLoadersOfAKind(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	for _, l := range []*fakeLoader{
		{kind: hotswap.KindNative, used: 1 << 20, limit: 8 << 20},
		{kind: hotswap.KindNative, used: 3 << 20, limit: 8 << 20},
		{kind: hotswap.Kind("x" + strings.Repeat("k", 200) + "1"), used: 1, limit: 2},
		{kind: hotswap.Kind("x" + strings.Repeat("k", 200) + "2"), used: 1, limit: 2},
	} {
		if err := f.m.Attach(l); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := gather(f.c)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	got := map[string]float64{}
	for _, m := range mfs["hotpatch_loader_memory_bytes"].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if got["native"] != 4<<20 {
		t.Errorf("loader_memory_bytes{native} = %v, want the sum %v", got["native"], 4<<20)
	}
	// The two long kinds keep labels of their own: a cut label ends with
	// a hash of the whole kind.
	if n := testutil.CollectAndCount(f.c, "hotpatch_loader_memory_limit_bytes"); n != 3 {
		t.Errorf("loader_memory_limit_bytes has %d series, want one per kind label (3)", n)
	}
}
