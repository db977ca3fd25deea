package admin_test

import (
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestPushRefusalIsRejected: a pushed bundle that the bundle loader
// refuses (another signer, a replay, a truncated file) is a rejected
// event, as the same bundle dropped into the patch directory is, so the
// metrics' hotpatch_rejections_total, the debug page and "hotpatch
// events" see it; each is recorded once, and a bundle refused by Apply
// (already a rejected event of the manager's) is not recorded twice.
func TestPushRefusalIsRejected(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	const base = "http://admin"
	if code, msg := call(t, c, base, "POST", api.PathPush, script(t, "greet", 5, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	good := script(t, "greet", 7, "ok", key)
	for _, tt := range []struct {
		name string
		body []byte
		err  string
	}{
		{"wrong key", script(t, "greet", 6, "evil", ed25519Key(9)), "untrusted key"},
		{"replay", script(t, "greet", 4, "old", key), "replay"},
		{"truncated", good[:len(good)/2], "bundle"},
		{"same again", script(t, "greet", 5, "hi", key), "greet@5"},
	} {
		before := rejected(f.rt.Manager())
		code, msg := call(t, c, base, "POST", api.PathPush, tt.body, nil)
		if code < 400 {
			t.Fatalf("%s: %d, want a refusal", tt.name, code)
		}
		got := rejected(f.rt.Manager())[len(before):]
		if len(got) != 1 {
			t.Errorf("%s (%d %s): %d rejected events, want 1: %+v", tt.name, code, msg, len(got), got)
			continue
		}
		if e := got[0]; e.Err == nil || !strings.Contains(e.Err.Error(), tt.err) || e.Kind == "" {
			t.Errorf("%s: rejected event %+v, want kind and an error with %q", tt.name, e, tt.err)
		}
	}
}

func rejected(m *hotswap.Manager) []hotswap.Event {
	var out []hotswap.Event
	for _, e := range m.History() {
		if e.Type == hotswap.EventRejected {
			out = append(out, e)
		}
	}
	return out
}
