package admin_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
	scriptloader "github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestPushOfNewVersionDuringStep: a new version of an applied patch
// pushed after a baseline step's new process took the journal over is
// refused (409), and the old process does not fall back to the baseline:
// the push swapped the new version in and retired the old one, so the
// revert of the refused push left the slot serving the unpatched
// baseline in the process that still serves, until it stopped. The new
// version keeps serving there, and the answer says so.
func TestPushOfNewVersionDuringStep(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	bl := bundleloader.New(bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true},
		bundleloader.Options{}, scriptloader.New(scriptloader.Options{}))
	if err := m.Attach(bl); err != nil {
		t.Fatal(err)
	}
	d := shortDir(t)
	j := &takenOverJournal{dir: filepath.Join(d, "state"), written: 1, err: errTakenOver}
	srv, err := admin.Start(admin.Target{Manager: m, Bundles: bl, Journal: j}, admin.Options{Socket: filepath.Join(d, "s")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	c := unixClient(filepath.Join(d, "s"))
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "one", key), nil); code != 200 {
		t.Fatalf("push written before the take-over: %d %q", code, msg)
	}
	code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 2, "two", key), nil)
	if code != 409 || !strings.Contains(msg, "baseline step is under way") {
		t.Errorf("new version pushed after the take-over: %d %q, want 409 saying a baseline step is under way", code, msg)
	}
	if got := greet.Load()("x"); got == "hello x" {
		t.Fatalf("the process still serving serves the baseline after the refused push of a new version; stack %+v", m.Status().Stack)
	}
	if st := m.Status().Stack; len(st) != 1 || st[0].ID != "greet@2" || greet.Load()("x") != "two x" {
		t.Errorf("stack %+v serving %q, want greet@2 serving", st, greet.Load()("x"))
	}
	if !strings.Contains(msg, "greet@1") || !strings.Contains(msg, "this process only") {
		t.Errorf("the refusal %q does not say that greet@2 serves in this process only and greet@1 next", msg)
	}
}
