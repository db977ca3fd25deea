package native_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
)

// Every test in this file runs in a child process (see inChild).

// failures returns the failures counted against the patch serving slot.
func (e *env) failures(t *testing.T, slot string) int64 {
	t.Helper()
	for _, s := range e.mgr.Status().Slots {
		if s.Name == slot {
			return s.Failures
		}
	}
	t.Fatalf("no slot %s", slot)
	return 0
}

// recovered calls f and returns the value it panicked with, if any.
func recovered(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// waitEvent waits for the first event of the manager's history that ok
// accepts; the history is the signal, the minute a hang detector.
func (e *env) waitEvent(t *testing.T, ok func(hotswap.Event) bool) hotswap.Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, ev := range e.mgr.History() {
			if ok(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no such event within a minute")
		}
		runtime.Gosched()
	}
}

// TestWrappersPassThrough: the generated wrappers of slots of every shape
// return what their funcs return, and let every way out go on as it was:
// panics with values that cannot be compared (a slice, a map) unchanged
// and reported once each, panic(nil) as the runtime's *runtime.PanicNilError,
// http.ErrAbortHandler and runtime.Goexit unreported.
func TestWrappersPassThrough(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	e.apply(t, e.load(t, fixture(t, "shapes.so")))

	if got := e.slots.Join.Load()(", ", "a", "b"); got != "[a, b]" {
		t.Errorf("Join = %q", got)
	}
	if head, rest, err := e.slots.Split.Load()("a b c"); head != "c" || !reflect.DeepEqual(rest, []string{"a", "b"}) || err != nil {
		t.Errorf("Split = %q, %q, %v", head, rest, err)
	}
	if _, _, err := e.slots.Split.Load()(""); err == nil || err.Error() != "empty" {
		t.Errorf("Split of nothing: err = %v", err)
	}
	if r, err := e.slots.Serve.Load()(context.Background(), &host.Request{Name: "x"}); r.Text != "patched, x" || err != nil {
		t.Errorf("Serve = %+v, %v", r, err)
	}
	before := host.Calls.Load()
	e.slots.Note.Load()("x", 1, "y")
	if host.Calls.Load() != before+1 {
		t.Error("Note did not run the patch")
	}

	join := e.slots.Join.Load()
	parts := []string{"p", "q"}
	v := recovered(func() { join("slice", parts...) })
	if s, ok := v.([]string); !ok || len(s) != 2 || &s[0] != &parts[0] {
		t.Fatalf("panic(slice) went on as %#v, want the very slice", v)
	}
	v = recovered(func() { join("map", "m") })
	if m, ok := v.(map[string][]string); !ok || m["parts"][0] != "m" {
		t.Fatalf("panic(map) went on as %#v", v)
	}
	var pn *runtime.PanicNilError
	if v := recovered(func() { join("nil") }); !errors.As(v.(error), &pn) {
		t.Fatalf("panic(nil) went on as %#v", v)
	}
	if got := e.failures(t, "example.Join"); got != 3 {
		t.Fatalf("%d failures counted, want 3 (slice, map, nil)", got)
	}

	if v := recovered(func() { join("abort") }); v != http.ErrAbortHandler {
		t.Fatalf("panic(http.ErrAbortHandler) went on as %#v", v)
	}
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		join("goexit")
		done <- "returned"
	}()
	if v := <-done; v != nil {
		t.Fatalf("runtime.Goexit: %#v, want the goroutine to exit with nothing to recover", v)
	}
	if got := e.failures(t, "example.Join"); got != 3 {
		t.Fatalf("%d failures counted after an abort and a Goexit, want still 3", got)
	}
}

// TestCountedOnceWithMiddleware: a panic of a native patch that a
// middleware above the slot recovers and reports (Manager.Recovered, as
// hotpatch.Runtime.Handler does) is counted once, not twice, and the
// patch is rolled back after the policy's 5.
func TestCountedOnceWithMiddleware(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	p := e.load(t, fixture(t, "v2.so"))
	e.apply(t, p)
	serve := func() {
		defer func() {
			if v := recover(); v != nil {
				_ = e.mgr.Recovered("example.Greet", v)
			}
		}()
		e.slots.Greet.Load()("panic")
	}
	for i := range 4 {
		serve()
		if got := e.failures(t, "example.Greet"); got != int64(i+1) {
			t.Fatalf("after %d panics through a middleware, %d failures counted", i+1, got)
		}
	}
	serve()
	e.waitEvent(t, func(ev hotswap.Event) bool { return ev.Type == hotswap.EventRolledBack && ev.PatchID == p.ID })
	if got := e.slots.Greet.Load()("x"); got != "hello, x" {
		t.Fatalf("after the rollback, serving %q", got)
	}
}

// TestRedirectPanicsReported: the replacement of a redirected function
// runs in its wrapper too: its panic goes on with its value, is counted
// against the patch (under the first slot it serves), once also when a
// wrapped slot of the patch called it, and a patch whose
// redirection keeps panicking is rolled back, which restores the
// function.
func TestRedirectPanicsReported(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	p := e.load(t, fixture(t, "redirect.so"))
	e.apply(t, p)
	if got := host.Shout("Hi"); got != "hi..." {
		t.Fatalf("redirected Shout = %q", got)
	}
	if got := host.Shouter("Hi"); got != "hi..." { // and keeps host.Shouter in the test binary
		t.Fatalf("redirected Shout through host.Shouter = %q", got)
	}
	// The patch's slot Add calls the redirected Shout, which panics: the
	// redirection's wrapper reports it, Add's recovers it and lets it go
	// on without counting it again.
	if v := recovered(func() { e.slots.Add.Load()(-1, 0) }); v != "the redirected Shout panics" {
		t.Fatalf("the nested panic went on as %#v", v)
	}
	if got := e.failures(t, "example.Add"); got != 1 {
		t.Fatalf("%d failures counted for one panic through two wrappers, want 1", got)
	}
	for i := range 3 {
		if v := recovered(func() { host.Shout("panic") }); v != "the redirected Shout panics" {
			t.Fatalf("panic %d went on as %#v", i, v)
		}
	}
	if got := e.failures(t, "example.Add"); got != 4 {
		t.Fatalf("%d failures counted, want 4", got)
	}
	recovered(func() { host.Shout("panic") })
	rb := e.waitEvent(t, func(ev hotswap.Event) bool { return ev.Type == hotswap.EventRolledBack && ev.PatchID == p.ID })
	if !strings.Contains(rb.Err.Error(), "redirected github.com/hotpatch-go/hotpatch/loader/native/testdata/host.Shout") {
		t.Errorf("rolled back because %v, want the redirection named", rb.Err)
	}
	e.waitEvent(t, func(ev hotswap.Event) bool { return ev.Type == hotswap.EventRetired && ev.PatchID == p.ID })
	if got := host.Shout("Hi"); got != "HI!" {
		t.Fatalf("after the rollback, Shout = %q", got)
	}
}

// TestRefuseNoWrap: a patch built before the typed wrappers (no
// HotpatchWrap) is refused with a message that says to build it again,
// and the baseline keeps serving.
func TestRefuseNoWrap(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "nowrap.so"))
	if !errors.Is(err, native.ErrNoExport) || !strings.Contains(err.Error(), native.SymbolWrap) || !strings.Contains(err.Error(), "build it again") {
		t.Fatalf("err = %v, want ErrNoExport naming %s and saying to build it again", err, native.SymbolWrap)
	}
	if got := e.slots.Greet.Load()("x"); got != "hello, x" {
		t.Fatalf("after the refusal, serving %q", got)
	}
}
