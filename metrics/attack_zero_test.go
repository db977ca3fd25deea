package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dtomodel "github.com/prometheus/client_model/go"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackFirstRollbackAlertable: a counter series that first appears at
// 1 has no increase in Prometheus (increase() needs two samples), so the
// first rollback of a process would never fire the documented alert
// increase(hotpatch_rollbacks_total[10m]) > 0. The series the alerts read
// exist at 0 from the first scrape.
func TestAttackFirstRollbackAlertable(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	for _, kind := range []hotswap.Kind{hotswap.KindScript, hotswap.KindNative, hotswap.KindProcess, hotswap.KindManual} {
		k := string(kind)
		for _, c := range []struct {
			name string
			vec  *prometheus.CounterVec
			lv   []string
		}{
			{"applies", f.c.applies, []string{k}},
			{"rollbacks", f.c.rollbacks, []string{k, ReasonPanic}},
			{"rollbacks", f.c.rollbacks, []string{k, ReasonError}},
			{"rejections", f.c.rejections, []string{k, ReasonInvalid}},
			{"rejections", f.c.rejections, []string{k, ReasonBaselineChanged}},
		} {
			if !hasSeries(t, c.vec, c.lv) {
				t.Errorf("a fresh collector has no %s series %v at 0", c.name, c.lv)
			}
		}
	}
	if !hasSeries(t, f.c.restarts, []string{string(hotswap.KindProcess)}) {
		t.Error("a fresh collector has no restarts{process} series at 0")
	}
}

// hasSeries reports whether vec has a series at 0 with those label
// values, without creating it.
func hasSeries(t *testing.T, vec *prometheus.CounterVec, lv []string) bool {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	vec.Collect(ch)
	close(ch)
	for m := range ch {
		var d dtomodel.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if len(d.GetLabel()) != len(lv) {
			continue
		}
		// Labels are sorted by name: kind, reason; lv is in that order.
		match := true
		for i, l := range d.GetLabel() {
			match = match && l.GetValue() == lv[i]
		}
		if match {
			return d.GetCounter().GetValue() == 0
		}
	}
	return false
}

// nonZero is a collector restricted to c's series that are not counters
// at 0, for comparisons that leave out the series created at 0.
type nonZero struct{ c prometheus.Collector }

func (n nonZero) Describe(ch chan<- *prometheus.Desc) { n.c.Describe(ch) }
func (n nonZero) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		n.c.Collect(all)
		close(all)
	}()
	for m := range all {
		var d dtomodel.Metric
		if err := m.Write(&d); err == nil && d.Counter != nil && d.GetCounter().GetValue() == 0 {
			continue
		}
		ch <- m
	}
}
