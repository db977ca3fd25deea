package metrics

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// scrape gathers reg and writes it in the text format, as a server is sent.
func scrape(t *testing.T, reg *prometheus.Registry) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestAttackLint: every family of a scrape with each metric set passes
// promlint (names, units, HELP), and parses back with HELP and TYPE.
func TestAttackLint(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	if err := f.m.Attach(&fakeLoader{kind: hotswap.KindNative, used: 1, limit: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Load(context.Background(), f.m.Loaders()[0], "x.so"); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(greet("g1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(greet("", hotswap.KindScript)); err == nil {
		t.Fatal("a patch without an ID was applied")
	}
	if err := f.m.Record(hotswap.Event{Type: hotswap.EventRestarted, Kind: hotswap.KindProcess}); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Revert(context.Background(), "g1"); err != nil {
		t.Fatal(err)
	}
	f.sync()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	text := scrape(t, reg)
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	for name, mf := range mfs {
		if mf.GetHelp() == "" || mf.Type == nil {
			t.Errorf("%s: HELP %q, TYPE %v", name, mf.GetHelp(), mf.Type)
		}
	}
}

// TestAttackMonotonic: counters never go down across scrapes while patches
// apply, revert and are refused, and the collector is closed mid-way.
func TestAttackMonotonic(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.c)
	last := map[string]float64{}
	check := func() {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var v float64
				switch {
				case m.Counter != nil:
					v = m.GetCounter().GetValue()
				case m.Histogram != nil:
					v = float64(m.GetHistogram().GetSampleCount())
				default:
					continue
				}
				key := mf.GetName() + fmt.Sprint(m.GetLabel())
				if v < last[key] {
					t.Errorf("%s went down from %v to %v", key, last[key], v)
				}
				last[key] = v
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := context.Background()
		for i := range 200 {
			id := fmt.Sprint("m", i)
			_ = f.apply(greet(id, hotswap.KindScript))
			_ = f.apply(greet(id, hotswap.KindScript)) // a duplicate: refused
			_ = f.m.Revert(ctx, id)
			if i == 100 {
				f.c.Close()
			}
		}
	})
	for range 50 {
		check()
	}
	wg.Wait()
	check()
}

// TestAttackTwoRegistries: one collector in two registries scrapes in
// both; a second registration in one registry is refused with an error,
// not a panic; Close while both scrape.
func TestAttackTwoRegistries(t *testing.T) {
	f := newFixture(t, hotswap.Options{})
	a, b := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	a.MustRegister(f.c)
	b.MustRegister(f.c)
	if err := a.Register(f.c); err == nil {
		t.Error("a second registration of the collector in one registry was accepted")
	}
	if err := f.apply(greet("g1", hotswap.KindScript)); err != nil {
		t.Fatal(err)
	}
	f.sync()
	var wg sync.WaitGroup
	for _, reg := range []*prometheus.Registry{a, b} {
		wg.Go(func() {
			for range 20 {
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	f.c.Close()
	wg.Wait()
	for _, reg := range []*prometheus.Registry{a, b} {
		text := scrape(t, reg)
		if !bytes.Contains(text, []byte(`hotpatch_applies_total{kind="script"} 1`)) {
			t.Errorf("a registry's scrape lacks the apply:\n%s", text)
		}
	}
}
