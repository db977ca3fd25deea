package admin_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// hang bounds every wait, to report a hang instead of timing out the run.
const hang = 60 * time.Second

// TestPushStatusRevertHistory: over the socket, a pushed bundle serves,
// is in the status and in the state directory, a newer version replaces
// it, a revert puts the baseline back, and each mutating call is an
// audit event naming the peer's uid and pid.
func TestPushStatusRevertHistory(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	const base = "http://admin"
	var pr api.PushResult
	if code, msg := call(t, c, base, "POST", api.PathPush, script(t, "greet", 1, "hi", key), &pr); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	if pr.ID != "greet@1" || pr.Kind != "script" || !strings.HasPrefix(pr.Stored, filepath.Join(f.state, admin.PushedDir)) {
		t.Fatalf("push result %+v", pr)
	}
	if _, err := os.Stat(pr.Stored); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "hi x" {
		t.Fatalf("serving %q", got)
	}
	if code, msg := call(t, c, base, "POST", api.PathPush, script(t, "greet", 2, "hey", key), &pr); code != 200 || pr.Replaced != "greet@1" {
		t.Fatalf("push v2: %d %s %+v", code, msg, pr)
	}
	var st api.Status
	if code, _ := call(t, c, base, "GET", api.PathStatus, nil, &st); code != 200 {
		t.Fatal(code)
	}
	if len(st.Stack) != 1 || st.Stack[0].ID != "greet@2" || len(st.Slots) != 1 || st.Slots[0].PatchID != "greet@2" ||
		st.Baseline.Identity == "" || st.Baseline.StateDir != f.state || st.Restart {
		t.Fatalf("status %+v", st)
	}
	if code, msg := call(t, c, base, "POST", api.PathRevert, []byte(`{"id":"greet@2"}`), nil); code != 200 {
		t.Fatalf("revert: %d %s", code, msg)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Fatalf("serving %q after the revert", got)
	}
	if code, msg := call(t, c, base, "POST", api.PathRevert, []byte(`{"id":"greet@2"}`), nil); code != 404 || !strings.Contains(msg, "no applied patch") {
		t.Fatalf("second revert: %d %s", code, msg)
	}
	if code, msg := call(t, c, base, "POST", api.PathRestart, nil, nil); code != 501 || !strings.Contains(msg, "baseline step is off") {
		t.Fatalf("restart: %d %s", code, msg)
	}
	var h api.History
	call(t, c, base, "GET", api.PathHistory, nil, &h)
	var types []string
	for _, e := range h.Events {
		if e.Type == "journal-error" {
			t.Errorf("journal error: %+v", e)
		}
		types = append(types, e.Type)
	}
	if !strings.Contains(strings.Join(types, " "), "applied audit applied") {
		t.Errorf("history types %v", types)
	}
	who := fmt.Sprintf("uid=%d pid=%d", os.Getuid(), os.Getpid())
	au := audits(f.rt)
	for _, want := range []string{who + ": push greet@1: ok", who + ": push greet@2: ok", who + ": revert greet@2: ok",
		who + ": revert greet@2: refused err=", who + ": restart: refused err="} {
		if !contains(au, want) {
			t.Errorf("no audit %q in %q", want, au)
		}
	}
}

// TestPushRefusals: an unsigned bundle, one signed by another key, a
// replay of an older version, a truncated one, an empty body and one over
// the limit are refused with their status and reason, audited, leave the
// serving version as it was and nothing in the state directory.
func TestPushRefusals(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{MaxPush: 64 << 10})
	c := unixClient(f.sock)
	const base = "http://admin"
	if code, msg := call(t, c, base, "POST", api.PathPush, script(t, "greet", 5, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	other := script(t, "greet", 6, "evil", nil)
	good := script(t, "greet", 7, "ok", key)
	for _, tt := range []struct {
		name string
		body []byte
		code int
		msg  string
	}{
		{"unsigned", other, 422, "not signed"},
		{"wrong key", script(t, "greet", 6, "evil", ed25519Key(9)), 422, "untrusted key"},
		{"replay", script(t, "greet", 4, "old", key), 409, "replay"},
		{"truncated", good[:len(good)/2], 422, "push:"},
		{"empty", nil, 400, "empty body"},
		{"oversize", make([]byte, 64<<10+1), 413, "over the limit of 65536 bytes"},
	} {
		code, msg := call(t, c, base, "POST", api.PathPush, tt.body, nil)
		if code != tt.code || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, msg, tt.code, tt.msg)
		}
		if got := f.greet.Load()("x"); got != "hi x" {
			t.Errorf("%s: serving %q", tt.name, got)
		}
		if st := f.rt.Manager().Status(); len(st.Stack) != 1 || st.Stack[0].ID != "greet@5" {
			t.Errorf("%s: stack %+v", tt.name, st.Stack)
		}
	}
	ents, _ := filepath.Glob(filepath.Join(f.state, admin.PushedDir, "*.hpatch"))
	if len(ents) != 1 {
		t.Errorf("pushed directory holds %d files, want the one applied", len(ents))
	}
	if n := len(audits(f.rt)); n != 7 {
		t.Errorf("%d audit events, want 7: %q", n, audits(f.rt))
	}
}

// TestConcurrentPushes: 8 pushes of different patches at once, while
// readers ask for the status, all land, in some order, and all are in the
// journal once the calls returned.
func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	msgs := make([]string, 8)
	for i := range 8 {
		body := script(t, fmt.Sprintf("fix%d", i), 1, fmt.Sprint("v", i), key)
		wg.Go(func() { codes[i], msgs[i] = call(t, c, "http://admin", "POST", api.PathPush, body, nil) })
	}
	// Readers hammer the status and the slot meanwhile.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var st api.Status
				if code, msg := call(t, c, "http://admin", "GET", api.PathStatus, nil, &st); code != 200 {
					t.Errorf("status: %d %s", code, msg)
					return
				}
				_ = f.greet.Load()("x")
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("push %d: %d %s", i, code, msgs[i])
		}
	}
	st := f.rt.Manager().Status()
	if len(st.Stack) != 8 {
		t.Fatalf("stack holds %d patches: %+v", len(st.Stack), st.Stack)
	}
	data, err := os.ReadFile(filepath.Join(f.state, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		id := fmt.Sprintf("fix%d@1", i)
		if !strings.Contains(string(data), id) {
			t.Errorf("journal lacks %s", id)
		}
	}
}

// TestEventsStream: the stream carries the events of a push, and ends
// with an end event when the server closes.
func TestEventsStream(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	resp, err := c.Get("http://admin" + api.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The comment line says the stream is subscribed.
	if l := <-lines; !strings.HasPrefix(l, ":") {
		t.Fatalf("first line %q", l)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	want := []string{"event: applied", "event: audit"}
	timeout := time.After(hang)
	for len(want) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if l == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("no %q", want)
		}
	}
	if err := f.rt.Admin().Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if !contains(rest, "event: end") {
		t.Errorf("stream ended without an end event: %q", rest)
	}
}

// TestEventsStreamOneLineType: an event type an application recorded
// with line breaks in it stays one "event:" field; it cannot forge a data
// line or end the event early.
func TestEventsStreamOneLineType(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	c := unixClient(f.sock)
	resp, err := c.Get("http://admin" + api.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if l := <-lines; !strings.HasPrefix(l, ":") {
		t.Fatalf("first line %q", l)
	}
	if err := f.rt.Manager().Record(hotswap.Event{Type: "evil\ndata: forged\r\n\nevent: x"}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(hang)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			if l == "" {
				continue
			}
			if strings.HasPrefix(l, "event: ") {
				if want := "event: evil data: forged   event: x"; l != want {
					t.Fatalf("event line %q, want %q", l, want)
				}
				continue
			}
			if !strings.HasPrefix(l, "data: {") {
				t.Fatalf("a forged line: %q", l)
			}
			return
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

// fakeRestarter answers Restart with err.
type fakeRestarter struct{ err error }

func (r fakeRestarter) Restart(context.Context) error { return r.err }

// TestRestart: a restart under way answers 409 with its reason; one that
// succeeds 200; both are audited.
func TestRestart(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	for _, tt := range []struct {
		err  error
		code int
		msg  string
	}{
		{baseline.ErrRestartInProgress, 409, baseline.ErrRestartInProgress.Error()},
		{errors.New("the new process failed"), 500, "the new process failed"},
		{nil, 200, ""},
	} {
		sock := filepath.Join(shortDir(t), "s")
		srv, err := admin.Start(admin.Target{Manager: mgr, Restarter: fakeRestarter{tt.err}}, admin.Options{Socket: sock})
		if err != nil {
			t.Fatal(err)
		}
		code, msg := call(t, unixClient(sock), "http://admin", "POST", api.PathRestart, nil, nil)
		if code != tt.code || !strings.Contains(msg, tt.msg) {
			t.Errorf("restart with %v: %d %q", tt.err, code, msg)
		}
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("socket left behind: %v", err)
		}
	}
	var n int
	for _, e := range mgr.History() {
		if e.Type == api.EventAudit && strings.Contains(e.Note, "restart") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d restart audits, want 3", n)
	}
}

// TestSocketMode: the socket is mode 0600, a second server on the same
// socket is refused, and a stale socket file is replaced.
func TestSocketMode(t *testing.T) {
	t.Parallel()
	f := start(t, admin.Options{})
	fi, err := os.Stat(f.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", fi.Mode())
	}
	mgr, err := hotswap.New(registry.New(), hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	if _, err := admin.Start(admin.Target{Manager: mgr}, admin.Options{Socket: f.sock}); !errors.Is(err, admin.ErrSocketInUse) {
		t.Errorf("second server: %v", err)
	}
}

// TestKillAfterPush: a server killed (SIGKILL) right after a push
// returned success applies the patch again when it starts (the journal's
// copy of the bundle); a pushed patch reverted before is not; a new
// baseline supersedes it.
func TestKillAfterPush(t *testing.T) {
	t.Parallel()
	d := shortDir(t)
	trust := filepath.Join(d, "ops.pub")
	writeTrust(t, trust)
	sock, state := filepath.Join(d, "s"), filepath.Join(d, "state")
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(serverBin, append([]string{"-socket", sock, "-state", state, "-trust", trust}, args...)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ready := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(out).ReadString('\n')
			ready <- l
		}()
		select {
		case l := <-ready:
			if !strings.HasPrefix(l, "ready pid=") {
				t.Fatalf("server said %q", l)
			}
		case <-time.After(hang):
			t.Fatal("server not ready")
		}
		return cmd
	}
	cmd := run()
	c := unixClient(sock)
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "extra", 1, "extra", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathRevert, []byte(`{"id":"extra@1"}`), nil); code != 200 {
		t.Fatalf("revert: %d %s", code, msg)
	}
	if code, msg := call(t, c, "http://admin", "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	cmd = run()
	var st api.Status
	if code, msg := call(t, unixClient(sock), "http://admin", "GET", api.PathStatus, nil, &st); code != 200 {
		t.Fatalf("status: %d %s", code, msg)
	}
	if len(st.Stack) != 1 || st.Stack[0].ID != "greet@1" || st.Slots[0].PatchID != "greet@1" {
		t.Fatalf("after the restart: %+v", st)
	}
	var h api.History
	call(t, unixClient(sock), "http://admin", "GET", api.PathHistory, nil, &h)
	for _, e := range h.Events {
		if e.Type == "rejected" || e.Type == "journal-error" {
			t.Errorf("after the restart: %+v", e)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	run("-identity", "another-baseline")
	st = api.Status{}
	if code, msg := call(t, unixClient(sock), "http://admin", "GET", api.PathStatus, nil, &st); code != 200 {
		t.Fatalf("status: %d %s", code, msg)
	}
	if len(st.Stack) != 0 {
		t.Fatalf("on a new baseline: %+v", st)
	}
	h = api.History{}
	call(t, unixClient(sock), "http://admin", "GET", api.PathHistory, nil, &h)
	superseded := false
	for _, e := range h.Events {
		superseded = superseded || e.Type == "superseded" && e.PatchID == "greet@1"
	}
	if !superseded {
		t.Errorf("no superseded event for greet@1 on the new baseline: %+v", h.Events)
	}
}
