package metrics

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestRegistryTwice: a collector registered twice in one registry is
// refused with prometheus.AlreadyRegisteredError (the registry's own
// check, nothing left half-registered); two managers' collectors share a
// registry once each is wrapped with a label of its own, as the package
// documentation says, and Unregister takes one out.
func TestRegistryTwice(t *testing.T) {
	newCollector := func() *Collector {
		reg := registry.New()
		registry.MustRegister(reg, "t.Greet", func() string { return "hi" })
		m, err := hotswap.New(reg, hotswap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := New(m)
		t.Cleanup(func() {
			c.Close()
			m.Close(context.Background())
		})
		return c
	}
	a, b := newCollector(), newCollector()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(a); err != nil {
		t.Fatal(err)
	}
	var already prometheus.AlreadyRegisteredError
	if err := reg.Register(a); !errors.As(err, &already) {
		t.Fatalf("registered twice: %v, want prometheus.AlreadyRegisteredError", err)
	}
	if err := reg.Register(b); err == nil {
		t.Fatal("a second manager's collector registered beside the first without a label of its own")
	}
	if !reg.Unregister(a) {
		t.Fatal("Unregister did not find the collector")
	}
	reg = prometheus.NewPedanticRegistry() // the old one keeps the label names it saw
	for name, c := range map[string]*Collector{"a": a, "b": b} {
		if err := prometheus.WrapRegistererWith(prometheus.Labels{"manager": name}, reg).Register(c); err != nil {
			t.Fatalf("manager %s wrapped with a label: %v", name, err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "hotpatch_slot_info"); err != nil || n != 2 {
		t.Fatalf("hotpatch_slot_info of two managers: %d series, %v; want 2", n, err)
	}
}
