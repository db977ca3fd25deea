package registry_test

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/internal/slotaccess"
	"github.com/hotpatch-go/hotpatch/registry"
)

type greeter func(string) string

func hello(name string) string { return "hello, " + name }

func TestRegisterAndLoad(t *testing.T) {
	t.Parallel()
	r := registry.New()
	f, err := registry.Register(r, "example.Greet", hello)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Load()("ann"); got != "hello, ann" {
		t.Fatalf("Load()(ann) = %q", got)
	}
	if f.Name() != "example.Greet" || f.PatchID() != "" || f.Generation() != 0 {
		t.Fatalf("name/patch/gen = %q/%q/%d", f.Name(), f.PatchID(), f.Generation())
	}
	if f.Type() != reflect.TypeFor[func(string) string]() {
		t.Fatalf("Type() = %v", f.Type())
	}
	if got := f.Baseline()("bo"); got != "hello, bo" {
		t.Fatalf("Baseline()(bo) = %q", got)
	}
	s, ok := r.Lookup("example.Greet")
	if !ok || s.Name() != "example.Greet" || s.Type() != f.Type() {
		t.Fatalf("Lookup = %v, %v", s, ok)
	}
	if back, ok := s.(*registry.Func[func(string) string]); !ok || back != f {
		t.Fatalf("type-erased slot does not assert back to its typed handle")
	}
	if _, ok := r.Lookup("example.Missing"); ok {
		t.Fatal("Lookup of a missing slot succeeded")
	}
	info := s.Info()
	if info.Name != "example.Greet" || info.PatchID != "" || info.Since.IsZero() {
		t.Fatalf("Info() = %+v", info)
	}
}

func TestRegisterBadInput(t *testing.T) {
	t.Parallel()
	r := registry.New()
	existing := registry.MustRegister(r, "a.Taken", hello)

	var nilFunc func(string) string
	cases := []struct {
		name string
		reg  func() error
		want error
	}{
		{"non-func int", func() error { _, err := registry.Register(r, "a.Int", 42); return err }, registry.ErrNotFunc},
		{"non-func struct", func() error { _, err := registry.Register(r, "a.S", struct{}{}); return err }, registry.ErrNotFunc},
		{"non-func any", func() error { _, err := registry.Register[any](r, "a.Any", hello); return err }, registry.ErrNotFunc},
		{"nil func", func() error { _, err := registry.Register(r, "a.Nil", nilFunc); return err }, registry.ErrNilFunc},
		{"nil named func", func() error { _, err := registry.Register(r, "a.NilNamed", greeter(nil)); return err }, registry.ErrNilFunc},
		{"duplicate", func() error { _, err := registry.Register(r, "a.Taken", hello); return err }, registry.ErrDuplicate},
		{"duplicate other type", func() error { _, err := registry.Register(r, "a.Taken", func() {}); return err }, registry.ErrDuplicate},
		{"no dot", func() error { _, err := registry.Register(r, "Greet", hello); return err }, registry.ErrBadName},
		{"empty", func() error { _, err := registry.Register(r, "", hello); return err }, registry.ErrBadName},
		{"leading dot", func() error { _, err := registry.Register(r, ".a.b", hello); return err }, registry.ErrBadName},
		{"trailing dot", func() error { _, err := registry.Register(r, "a.b.", hello); return err }, registry.ErrBadName},
		{"double dot", func() error { _, err := registry.Register(r, "a..b", hello); return err }, registry.ErrBadName},
		{"digit start", func() error { _, err := registry.Register(r, "a.1b", hello); return err }, registry.ErrBadName},
		{"space", func() error { _, err := registry.Register(r, "a. b", hello); return err }, registry.ErrBadName},
		{"dash", func() error { _, err := registry.Register(r, "my-svc.Greet", hello); return err }, registry.ErrBadName},
		{"unicode", func() error { _, err := registry.Register(r, "café.Greet", hello); return err }, registry.ErrBadName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.reg()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), `register "`) {
				t.Fatalf("error %q does not name the slot", err)
			}
		})
	}
	if r.Len() != 1 {
		t.Fatalf("bad registrations changed the registry: %d slots", r.Len())
	}
	if got := existing.Load()("x"); got != "hello, x" {
		t.Fatalf("existing slot broken: %q", got)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"billing.Price": true, "api.v2.Hello": true, "_a._b": true, "A1.b2.C3": true,
		"a": false, "a.": false, ".a": false, "a..b": false, "1a.b": false, "a.b-c": false, "a.b c": false,
	} {
		if got := registry.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMustRegisterPanics(t *testing.T) {
	t.Parallel()
	r := registry.New()
	defer func() {
		if v := recover(); v == nil {
			t.Fatal("MustRegister with a bad name did not panic")
		}
	}()
	registry.MustRegister(r, "bad", hello)
}

func TestSlotsSorted(t *testing.T) {
	t.Parallel()
	r := registry.New()
	for _, n := range []string{"c.C", "a.A", "b.B"} {
		registry.MustRegister(r, n, hello)
	}
	var names []string
	for _, s := range r.Slots() {
		names = append(names, s.Name())
	}
	if strings.Join(names, ",") != "a.A,b.B,c.C" {
		t.Fatalf("Slots() order = %v", names)
	}
}

// TestWriterThroughTable: the write side is reached only through
// internal/slotaccess, which the registry fills at init; a registry is
// claimed by one manager at a time.
func TestWriterThroughTable(t *testing.T) {
	t.Parallel()
	r := registry.New()
	registry.MustRegister(r, "a.B", hello)
	if _, ok := slotaccess.WriterOf(r, "a.Missing"); ok {
		t.Fatal("WriterOf a missing slot succeeded")
	}
	if _, ok := slotaccess.WriterOf("not a registry", "a.B"); ok {
		t.Fatal("WriterOf something that is not a registry succeeded")
	}
	release, ok := slotaccess.Claim(r)
	if !ok {
		t.Fatal("first Claim failed")
	}
	if _, ok := slotaccess.Claim(r); ok {
		t.Fatal("second Claim succeeded while the first holds the registry")
	}
	release()
	release() // safe twice
	rel2, ok := slotaccess.Claim(r)
	if !ok {
		t.Fatal("Claim after release failed")
	}
	rel2()
}

func TestWriterStoreAndReset(t *testing.T) {
	t.Parallel()
	r := registry.New()
	f := registry.MustRegister(r, "a.B", hello)
	w, ok := slotaccess.WriterOf(r, "a.B")
	if !ok {
		t.Fatal("WriterOf a.B failed")
	}
	if err := w.Store(greeter(hello), slotaccess.Version{PatchID: "p"}); err == nil {
		t.Fatal("Store of a named type into an unnamed-type slot succeeded")
	}
	if err := w.Store(func(s string) string { return "new " + s }, slotaccess.Version{PatchID: "p", Generation: 3}); err != nil {
		t.Fatal(err)
	}
	if f.Load()("x") != "new x" || f.PatchID() != "p" || f.Generation() != 3 {
		t.Fatalf("after Store: %q %q %d", f.Load()("x"), f.PatchID(), f.Generation())
	}
	w.Reset(slotaccess.Version{PatchID: "ignored", Generation: 4})
	if f.Load()("x") != "hello, x" || f.PatchID() != "" || f.Generation() != 4 {
		t.Fatalf("after Reset: %q %q %d", f.Load()("x"), f.PatchID(), f.Generation())
	}
}

func TestConcurrentRegisterLookup(t *testing.T) {
	t.Parallel()
	r := registry.New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				name := "g" + string(rune('a'+g)) + ".F" + strings.Repeat("x", i%5) + string(rune('a'+i%26))
				_, _ = registry.Register(r, name, hello)
				r.Lookup(name)
				r.Slots()
			}
		}()
	}
	wg.Wait()
}
