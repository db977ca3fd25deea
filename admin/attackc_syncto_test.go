package admin_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
	scriptloader "github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// takenOverJournal is a journal that wrote the changes up to written
// before another process took it over: Sync, which waits for every
// change, fails; SyncTo succeeds for what was written.
type takenOverJournal struct {
	dir     string
	written uint64
	err     error // what Sync and SyncTo past written return
}

var errTakenOver = fmt.Errorf("%w: by process 42", journal.ErrTakenOver)

func (j *takenOverJournal) Dir() string                { return j.dir }
func (j *takenOverJournal) Identity() string           { return "test" }
func (j *takenOverJournal) Sync(context.Context) error { return j.err }
func (j *takenOverJournal) SyncTo(_ context.Context, gen uint64) error {
	if gen <= j.written {
		return nil
	}
	return j.err
}

// TestPushAnswersForItsOwnPatch: a push answers whether its own patch is
// on record, not whether every change of the manager is: a push written
// before a baseline step's new process took the journal over (which then
// applies it again) was answered 500 "will not be applied again after a
// restart" because a push after it could not be written. One applied
// after the take-over, or after the hand-over closed the journal, is
// refused (409) and reverted: it stayed applied in the old process, which
// served it until the hand-over, after a 500.
func TestPushAnswersForItsOwnPatch(t *testing.T) {
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
	var res api.PushResult
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "a", 1, "a", key), &res); code != 200 || res.Generation != 1 {
		t.Errorf("push written before the take-over: %d %q (generation %d), want 200", code, msg, res.Generation)
	}
	// Applied after the take-over: the new process will serve without
	// it, so it is refused, and reverted here too.
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "b", 1, "b", key), nil); code != 409 || !strings.Contains(msg, "baseline step is under way") {
		t.Errorf("push applied after the take-over: %d %q, want 409 saying a baseline step is under way", code, msg)
	}
	j.err = journal.ErrClosed // the hand-over closed it
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "c", 1, "c", key), nil); code != 409 || !strings.Contains(msg, "baseline step is under way") {
		t.Errorf("push applied after the hand-over: %d %q, want 409 saying a baseline step is under way", code, msg)
	}
	if st := m.Status(); len(st.Stack) != 1 || st.Stack[0].ID != "a@1" {
		t.Errorf("stack after the refused pushes: %+v, want a@1 alone", st.Stack)
	}
	if got := greet.Load()("x"); got != "a x" {
		t.Errorf("serving %q after the refused pushes, want %q", got, "a x")
	}
	// A revert in the same moment cannot be recorded: the next process
	// applies the patch. Say so, as a conflict to try again, not a 500.
	body := []byte(`{"id": "a@1"}`)
	if code, msg := call(t, c, "http://admin", "POST", api.PathRevert, body, nil); code != 409 || !strings.Contains(msg, "revert it again once the new process serves") {
		t.Errorf("revert after the hand-over: %d %q, want 409 saying to revert again", code, msg)
	}
}
