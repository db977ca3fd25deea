package native_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
	"github.com/hotpatch-go/hotpatch/registry"
)

// markLine returns the line of testdata/patches/odd.go that holds
// "mark:"+name.
func markLine(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "patches", "odd.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), "// mark:"+name) {
			return n
		}
	}
	t.Fatalf("no mark:%s in odd.go", name)
	return 0
}

// stackOf calls f and returns the stack as it is where the panic that
// leaves f is recovered, and the value.
func stackOf(f func()) (v any, stack string) {
	defer func() {
		v = recover()
		stack = string(debug.Stack())
	}()
	f()
	return nil, ""
}

// TestAttackOddSource: a patch written with a byte order mark, CRLF line
// endings, no newline at the end, cgo, a generic helper and a method
// builds and serves; runtime.Caller in it and the stack of its panics name
// its own file and lines, not the build directory's copy; its panics go
// on with their values and count once each, also through recursion into
// its own slot and a call to another of its slots through the registry,
// and a panic value whose Error method panics; a panic the patch recovers
// itself (setting a named result) is no failure.
func TestAttackOddSource(t *testing.T) {
	if !inChild(t) {
		return
	}
	reg := registry.New()
	mgr, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 100}})
	if err != nil {
		t.Fatal(err)
	}
	l := native.New(native.Options{})
	defer l.Close(context.Background())
	defer mgr.Close(context.Background())
	slots := host.Register(reg)
	host.Current.Store(&slots)
	p, err := l.Load(context.Background(), mgr, fixture(t, "odd.so"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	failures := func() int64 {
		for _, s := range mgr.Status().Slots {
			if s.Name == "example.Greet" {
				return s.Failures
			}
		}
		t.Fatal("no slot example.Greet")
		return 0
	}
	greet := slots.Greet.Load()
	src := filepath.Join(fixtures, "odd.go")

	if got := greet("x"); got != "odd, x" {
		t.Fatalf("Greet = %q", got)
	}
	if got := slots.Add.Load()(3, 4); got != 10 {
		t.Fatalf("Add (through C) = %d, want 10", got)
	}
	if got, want := greet("caller"), fmt.Sprintf("%s:%d", src, markLine(t, "caller")); got != want {
		t.Errorf("runtime.Caller in the patch says %s, want %s", got, want)
	}
	if head, rest, err := slots.Split.Load()("s"); head != "" || rest != nil || err == nil || err.Error() != "recovered: inner s" {
		t.Errorf("Split = %q, %q, %v, want the error its own deferred recover set", head, rest, err)
	}
	if n := failures(); n != 0 {
		t.Fatalf("%d failures before any panic escaped", n)
	}

	for i, c := range []struct {
		name, mark string
		value      string
	}{
		{"panic", "panic", "odd panics"},
		{"defer", "defer", "odd panics in a deferred func"},
		{"recurse3", "", "odd recursion bottom"},
	} {
		v, stack := stackOf(func() { greet(c.name) })
		if v != c.value {
			t.Fatalf("%s: the panic went on as %#v, want %q", c.name, v, c.value)
		}
		if c.mark != "" && !strings.Contains(stack, fmt.Sprintf("%s:%d", src, markLine(t, c.mark))) {
			t.Errorf("%s: the stack does not name %s:%d:\n%s", c.name, src, markLine(t, c.mark), stack)
		}
		if strings.Contains(stack, "/patch.go:") || strings.Contains(stack, "zz_hotpatch_generated.go") {
			t.Errorf("%s: the stack names the build directory's files:\n%s", c.name, stack)
		}
		if n := failures(); n != int64(i+1) {
			t.Fatalf("after %s: %d failures, want %d", c.name, n, i+1)
		}
	}
	if v, _ := stackOf(func() { greet("cross") }); fmt.Sprint(v) != "odd Add of a negative" {
		t.Fatalf("cross: the panic went on as %#v", v)
	}
	if n := failures(); n != 4 {
		t.Fatalf("after a panic of a slot called through another: %d failures, want 4", n)
	}
	v, _ := stackOf(func() { greet("sneaky") })
	if !strings.HasSuffix(fmt.Sprintf("%T", v), ".sneaky") {
		t.Fatalf("sneaky: the panic went on as a %T, want the patch's sneaky value", v)
	}
	if n := failures(); n != 5 {
		t.Fatalf("after a panic with a value whose Error panics: %d failures, want 5", n)
	}
}

// TestAttackPanicNilOld: with GODEBUG=panicnil=1 (the default of a host
// module whose go.mod says go 1.20 or older), panic(nil) panics with nil
// and recover returns nil for it, as for runtime.Goexit, but stops it. A
// wrapper must not take it for a return: the call must not return (zero
// results, as if it had succeeded), and the failure is counted; Goexit
// still goes on, uncounted.
func TestAttackPanicNilOld(t *testing.T) {
	if os.Getenv(fixturesEnv) == "" {
		t.Setenv("GODEBUG", "panicnil=1")
	}
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	e.apply(t, e.load(t, fixture(t, "shapes.so")))
	join := e.slots.Join.Load()
	returned := false
	func() {
		defer func() { _ = recover() }()
		join("nil")
		returned = true
	}()
	if returned {
		t.Fatal("panic(nil) under panicnil=1: the call through the slot returned")
	}
	if got := e.failures(t, "example.Join"); got != 1 {
		t.Fatalf("%d failures counted for panic(nil), want 1", got)
	}
	done := make(chan string)
	go func() {
		defer func() { done <- "exited" }()
		join("goexit")
		done <- "returned"
	}()
	if v := <-done; v != "exited" {
		t.Fatalf("runtime.Goexit under panicnil=1: %s", v)
	}
	if got := e.failures(t, "example.Join"); got != 1 {
		t.Fatalf("%d failures counted after a Goexit, want still 1", got)
	}
}

// TestAttackNoWrapNotOpened: a patch from a build older than the typed
// wrappers is refused before it is opened: Go never unmaps a plugin, so
// opening it only to refuse it would take memory under the cap for good,
// and run its init functions.
func TestAttackNoWrapNotOpened(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "nowrap.so"))
	if !errors.Is(err, native.ErrNoExport) || !strings.Contains(err.Error(), "build it again") {
		t.Fatalf("err = %v, want ErrNoExport saying to build it again", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(maps), "greet_v1_") {
		t.Fatalf("the refused patch was mapped:\n%s", maps)
	}
}
