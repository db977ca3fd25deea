package patchdir_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is a registry with one slot and a manager on it.
type fixture struct {
	reg   *registry.Registry
	m     *hotswap.Manager
	greet *registry.Func[func(string) string]
}

func newFixture(t *testing.T, opts hotswap.Options) *fixture {
	t.Helper()
	reg := registry.New()
	f := &fixture{
		reg:   reg,
		greet: registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n }),
	}
	m, err := hotswap.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	t.Cleanup(func() { _ = f.m.Close(context.Background()) })
	return f
}

// watch attaches loaders to the fixture's manager and watches dir.
func (f *fixture) watch(t *testing.T, dir string, opts patchdir.Options, loaders ...hotswap.Loader) (*patchdir.Dir, error) {
	t.Helper()
	for _, l := range loaders {
		if err := f.m.Attach(l); err != nil {
			t.Fatal(err)
		}
	}
	return patchdir.Watch(context.Background(), f.m, dir, opts)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// within runs f and fails the test if it does not return within a
// generous bound (a hang detector, not a timing assertion).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return within 30s", what)
	}
}
