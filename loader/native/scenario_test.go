package native_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Every test in this file runs in a child process (see inChild).

type env struct {
	reg   *registry.Registry
	slots host.Slots
	mgr   *hotswap.Manager
	l     *native.Loader
}

func newEnv(t *testing.T, opts native.Options) *env {
	t.Helper()
	reg := registry.New()
	mgr, err := hotswap.New(reg, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 5}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{reg: reg, slots: host.Register(reg), mgr: mgr, l: native.New(opts)}
	t.Cleanup(func() {
		e.mgr.Close(context.Background())
		e.l.Close(context.Background())
	})
	return e
}

// drop copies a fixture to dir/name, as a user drops a file: the same name
// for every version.
func drop(t *testing.T, fixtureName, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(fixture(t, fixtureName))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func (e *env) load(t *testing.T, path string) hotswap.Patch {
	t.Helper()
	p, err := e.l.Load(context.Background(), e.mgr, path)
	if err != nil {
		t.Fatalf("Load(%s): %v", filepath.Base(path), err)
	}
	return p
}

func (e *env) apply(t *testing.T, p hotswap.Patch) {
	t.Helper()
	if _, err := e.mgr.Apply(context.Background(), p); err != nil {
		t.Fatalf("Apply(%s): %v", p.ID, err)
	}
}

func TestLoadApplyRevert(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	p := e.load(t, fixture(t, "v1.so"))
	if p.Kind != hotswap.KindNative || p.Baseline == "" || len(p.Impls) != 1 {
		t.Fatalf("patch = %+v", p)
	}
	if used, _ := e.l.Memory(); used == 0 {
		t.Error("Memory() = 0 after a load")
	}
	e.apply(t, p)
	before := host.Calls.Load()
	if got := e.slots.Greet.Load()("gopher"); got != "v1, gopher" {
		t.Fatalf("after apply: %q", got)
	}
	if host.Calls.Load() != before+1 {
		t.Error("the patch did not reach the host's own state (package host is not shared)")
	}
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.slots.Greet.Load()("gopher"); got != "hello, gopher" {
		t.Fatalf("after revert: %q", got)
	}
	// The code stays mapped: the patch can be applied again, at once.
	e.apply(t, e.load(t, fixture(t, "v1.so")))
	if got := e.slots.Greet.Load()("gopher"); got != "v1, gopher" {
		t.Fatalf("after re-apply: %q", got)
	}
}

// TestVersions applies v1, v2 and v3 of one patch, dropped under one name
// in turn: each build has its own plugin path, and the loader does not let
// Go's plugin cache (by path) hand back the old version.
// TestPanicsReportedAndRolledBack: a native patch that panics on every
// call has each panic reported to its host once, with the value going on
// up unchanged, and the manager's rollback policy (5 failures, newEnv)
// reverts it, as for the other kinds.
func TestPanicsReportedAndRolledBack(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	p := e.load(t, fixture(t, "v2.so"))
	e.apply(t, p)
	greet := e.slots.Greet.Load()
	call := func() (v any) {
		defer func() { v = recover() }()
		greet("panic")
		return nil
	}
	for i := range 4 {
		if v := call(); v != "v2 cannot greet panic" {
			t.Fatalf("call %d panicked with %#v, want the patch's own value", i, v)
		}
	}
	if st := e.mgr.Status(); st.Slots[1].Name != "example.Greet" || st.Slots[1].Failures != 4 {
		t.Fatalf("after 4 panics: %+v, want 4 failures counted for example.Greet", st.Slots)
	}
	if got := e.slots.Greet.Load()("x"); got != "v2, x" {
		t.Fatalf("after 4 panics, serving %q", got)
	}
	call()
	// The rollback runs in the background; its event is the signal.
	var rb *hotswap.Event
	deadline := time.Now().Add(time.Minute) // a hang detector
	for rb == nil {
		if time.Now().After(deadline) {
			t.Fatal("the patch was not rolled back after 5 panics")
		}
		for _, ev := range e.mgr.History() {
			if ev.Type == hotswap.EventRolledBack {
				rb = &ev
			}
		}
		time.Sleep(time.Millisecond)
	}
	if got := e.slots.Greet.Load()("x"); got != "hello, x" {
		t.Fatalf("after the rollback, serving %q", got)
	}
	var pe *hotswap.PanicError
	if rb == nil || rb.PatchID != p.ID || !errors.As(rb.Err, &pe) || !strings.Contains(rb.Err.Error(), "5 failures") {
		t.Fatalf("rolled-back event = %v, want 5 failures and the *hotswap.PanicError", rb)
	}
}

func TestVersions(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	dir := t.TempDir()
	prev := ""
	seen := map[string]bool{}
	for _, v := range []string{"v1", "v2", "v3"} {
		path := drop(t, v+".so", dir, "greet.so")
		m, err := native.ReadManifest(path)
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.Package] {
			t.Fatalf("%s: plugin path %s is not unique", v, m.Package)
		}
		seen[m.Package] = true
		p := e.load(t, path)
		p.Replaces = prev
		e.apply(t, p)
		prev = p.ID
		if got, want := e.slots.Greet.Load()("gopher"), v+", gopher"; got != want {
			t.Fatalf("%s: got %q, want %q", v, got, want)
		}
	}
	if st := e.mgr.Status(); len(st.Stack) != 1 || st.Stack[0].ID != prev {
		t.Fatalf("stack = %+v, want only %s", st.Stack, prev)
	}
}

// TestApplyWhileCalling applies and reverts versions while goroutines call
// the slot: every result comes from one of the versions, nothing breaks.
func TestApplyWhileCalling(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	valid := map[string]bool{"hello, x": true, "v1, x": true, "v2, x": true, "v3, x": true}
	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if got := e.slots.Greet.Load()("x"); !valid[got] {
					select {
					case errc <- got:
					default:
					}
					return
				}
				calls.Add(1)
			}
		})
	}
	var patches []hotswap.Patch
	for _, v := range []string{"v1.so", "v2.so", "v3.so"} {
		patches = append(patches, e.load(t, fixture(t, v)))
	}
	for round := range 20 {
		for _, p := range patches {
			e.apply(t, p)
		}
		for i := len(patches) - 1; i >= 0; i-- {
			if err := e.mgr.Revert(context.Background(), patches[i].ID); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for got := range errc {
		t.Errorf("a call returned %q", got)
	}
	if calls.Load() == 0 {
		t.Error("no call completed")
	}
}

func TestRefuseOtherBaseline(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "other.so"))
	var be *native.BaselineError
	if !errors.As(err, &be) || !errors.Is(err, native.ErrBaselineMismatch) || !errors.Is(err, hotswap.ErrBaselineChanged) {
		t.Fatalf("err = %v, want a *BaselineError", err)
	}
	if len(be.Differences) != 1 || be.Differences[0].What != "build setting -tags" {
		t.Errorf("differences = %v, want only the -tags setting", be.Differences)
	}
	if !be.Unrecorded || !strings.Contains(err.Error(), "built with `hotpatch build`?") {
		t.Errorf("the refusal does not ask whether the server was built with hotpatch build (this test binary was not):\n%v", err)
	}
	if !strings.Contains(err.Error(), "baseline step") || !strings.Contains(err.Error(), "hotpatch_other (patch)") {
		t.Errorf("message does not say what differs and what to do:\n%v", err)
	}
	if used, _ := e.l.Memory(); used != 0 {
		t.Errorf("Memory() = %d: a refused baseline was opened", used)
	}
	t.Logf("refusal reads:\n%v", err)
}

// TestRefusePackageSkew loads a patch whose fingerprint matches but whose
// copy of package host was compiled from other source: Go's own refusal
// comes back in the same form as a fingerprint mismatch.
func TestRefusePackageSkew(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "skew.so"))
	var be *native.BaselineError
	if !errors.As(err, &be) || !strings.HasSuffix(be.Package, "loader/native/testdata/host") {
		t.Fatalf("err = %v, want a *BaselineError naming package host", err)
	}
	if used, _ := e.l.Memory(); used == 0 {
		t.Error("Memory() = 0: dlopen mapped the file before Go refused it, and it stays mapped")
	}
	// A second attempt is refused the same way, without a new mapping.
	used, _ := e.l.Memory()
	_, err2 := e.l.Load(context.Background(), e.mgr, fixture(t, "skew.so"))
	if !errors.As(err2, &be) {
		t.Fatalf("second load: %v", err2)
	}
	if again, _ := e.l.Memory(); again != used {
		t.Errorf("Memory() went from %d to %d on a second attempt", used, again)
	}
	t.Logf("refusal reads:\n%v", err)
}

func TestRefuseBadFiles(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	dir := t.TempDir()
	good, err := os.ReadFile(fixture(t, "v1.so"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	rand.Read(random)
	files := map[string][]byte{
		"truncated.so":       good[:len(good)/2],
		"truncated-tail.so":  good[:len(good)-100],
		"random.so":          random,
		"empty.so":           nil,
		"elf-header-only.so": good[:64],
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.l.Load(context.Background(), e.mgr, path)
		if !errors.Is(err, native.ErrNotPatch) {
			t.Errorf("%s: err = %v, want ErrNotPatch", name, err)
		}
	}
	if used, _ := e.l.Memory(); used != 0 {
		t.Errorf("Memory() = %d: a bad file was opened", used)
	}
}

// TestRefusePanickingInit loads a patch whose init panics: refused with
// the panic, and the process goes on.
func TestRefusePanickingInit(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "panicinit.so"))
	var pe *hotswap.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, native.ErrOpen) || pe.Value != "patch init fails" {
		t.Fatalf("err = %v, want ErrOpen with the panic", err)
	}
	e.apply(t, e.load(t, fixture(t, "v1.so")))
	if got := e.slots.Greet.Load()("x"); got != "v1, x" {
		t.Fatalf("after the refusal, a good patch serves %q", got)
	}
}

func TestRefuseNoExport(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "noexport.so"))
	if !errors.Is(err, native.ErrNoExport) || !strings.Contains(err.Error(), native.SymbolSlots) {
		t.Fatalf("err = %v, want ErrNoExport naming %s", err, native.SymbolSlots)
	}
}

func TestRefuseWrongType(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "wrongtype.so"))
	var tm *hotswap.TypeMismatchError
	if !errors.As(err, &tm) || tm.Slot != "example.Greet" || tm.Got.String() != "func(int) string" {
		t.Fatalf("err = %v, want a *hotswap.TypeMismatchError for example.Greet", err)
	}
}

// TestRefuseUnknownSlot loads a patch for a slot this program does not
// have: refused before the file is opened.
func TestRefuseUnknownSlot(t *testing.T) {
	if !inChild(t) {
		return
	}
	reg := registry.New()
	registry.MustRegister(reg, "other.Thing", func() {})
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	l := native.New(native.Options{})
	defer l.Close(context.Background())
	_, err = l.Load(context.Background(), mgr, fixture(t, "v1.so"))
	if !errors.Is(err, hotswap.ErrUnknownSlot) || !strings.Contains(err.Error(), "example.Greet") {
		t.Fatalf("err = %v, want ErrUnknownSlot for example.Greet", err)
	}
	if used, _ := l.Memory(); used != 0 {
		t.Errorf("Memory() = %d", used)
	}
}

// TestMemoryCap sets the cap just above one patch: the second is refused,
// while the first one, loaded again, costs nothing more.
func TestMemoryCap(t *testing.T) {
	if !inChild(t) {
		return
	}
	probe := newEnv(t, native.Options{})
	// The mapped size of v1, learned by loading it into a first loader
	// (same process: loading the same bytes again is free).
	probe.load(t, fixture(t, "v1.so"))
	size, _ := probe.l.Memory()

	e := newEnv(t, native.Options{MaxMemory: size + size/2})
	e.load(t, fixture(t, "v1.so"))
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "v2.so"))
	if !errors.Is(err, native.ErrMemoryCap) || !strings.Contains(err.Error(), "baseline step") {
		t.Fatalf("err = %v, want ErrMemoryCap advising the baseline step", err)
	}
	e.load(t, fixture(t, "v1.so"))
	if used, limit := e.l.Memory(); used != size || limit != size+size/2 {
		t.Errorf("Memory() = %d, %d; want %d, %d", used, limit, size, size+size/2)
	}
	// A file larger than the whole cap is not even read.
	tiny := native.New(native.Options{MaxMemory: 4096})
	defer tiny.Close(context.Background())
	if _, err := tiny.Load(context.Background(), e.mgr, fixture(t, "v2.so")); !errors.Is(err, native.ErrMemoryCap) {
		t.Errorf("a file larger than the cap: %v", err)
	}
	t.Logf("refusal reads:\n%v", err)
}

// TestWatchDir drops .so files into a watched directory: each version is
// applied in place of the previous one, and removing the file reverts it.
func TestWatchDir(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	events, cancel := e.mgr.Subscribe(64)
	defer cancel()
	dir := t.TempDir()
	if err := e.mgr.Attach(e.l); err != nil {
		t.Fatal(err)
	}
	w, err := patchdir.Watch(context.Background(), e.mgr, dir, patchdir.Options{Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	want := func(typ hotswap.EventType, greeting string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Type == hotswap.EventRejected {
					t.Fatalf("rejected: %v", ev.Err)
				}
				// A replacement also reports the old version reverted:
				// wait for the event that brings the expected greeting.
				if ev.Type == typ && e.slots.Greet.Load()("gopher") == greeting {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event bringing %q; serving %q", typ, greeting, e.slots.Greet.Load()("gopher"))
			}
		}
	}
	drop(t, "v1.so", dir, "greet.so")
	want(hotswap.EventApplied, "v1, gopher")
	drop(t, "v2.so", dir, "greet.so")
	want(hotswap.EventApplied, "v2, gopher")
	if err := os.Remove(filepath.Join(dir, "greet.so")); err != nil {
		t.Fatal(err)
	}
	want(hotswap.EventReverted, "hello, gopher")
}

// TestRedirect applies a patch that serves a slot and redirects a function
// the host never registered; reverting it restores both.
func TestRedirect(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	events, cancel := e.mgr.Subscribe(16)
	defer cancel()
	p := e.load(t, fixture(t, "redirect.so"))
	if host.Shout("hi") != "HI!" {
		t.Fatal("loading redirected already")
	}
	e.apply(t, p)
	if got := host.Shout("Hi"); got != "hi..." {
		t.Fatalf("redirected Shout = %q", got)
	}
	if got := e.slots.Add.Load()(1, 2); got != 12 {
		t.Fatalf("patched Add = %d", got)
	}
	if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	// The slot is back at once; the redirection is restored by the
	// patch's Retire hook, which the manager runs in the background.
	if got := e.slots.Add.Load()(1, 2); got != 3 {
		t.Fatalf("reverted Add = %d", got)
	}
	for ev := range events {
		if ev.Type == hotswap.EventRetired && ev.PatchID == p.ID {
			if ev.Err != nil {
				t.Fatalf("retire: %v", ev.Err)
			}
			break
		}
	}
	if got := host.Shout("Hi"); got != "HI!" {
		t.Fatalf("restored Shout = %q", got)
	}
	// Applying it again redirects again (the code never left).
	e.apply(t, e.load(t, fixture(t, "redirect.so")))
	if got := host.Shout("Hi"); got != "hi..." {
		t.Fatalf("re-applied Shout = %q", got)
	}
	if err := e.mgr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := host.Shout("Hi"); got != "HI!" {
		t.Fatalf("after Close: Shout = %q", got)
	}
}

// TestRedirectVersions replaces a redirecting patch with a new version of
// itself (as the directory watch does): the new version's redirection
// takes over from the old one's, it is not refused as a double redirection.
func TestRedirectVersions(t *testing.T) {
	if !inChild(t) {
		return
	}
	e := newEnv(t, native.Options{})
	p1 := e.load(t, fixture(t, "redirect.so"))
	e.apply(t, p1)
	p2 := e.load(t, fixture(t, "redirect2.so"))
	p2.Replaces = p1.ID
	e.apply(t, p2)
	if got := host.Shout("Hi"); got != "hi???" {
		t.Fatalf("after the replacement, Shout = %q", got)
	}
	if err := e.mgr.Revert(context.Background(), p2.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Close(context.Background()); err != nil { // waits for the Retire hooks
		t.Fatal(err)
	}
	if got := host.Shout("Hi"); got != "HI!" {
		t.Fatalf("after revert, Shout = %q", got)
	}
}
