package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
)

// fakeServer answers the admin endpoints as h says, on a unix socket.
func fakeServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hpc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	sock := filepath.Join(d, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + sock
}

func runAdmin(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestAdminExitCodes: 0 done, 1 refused (with the server's reason), 2 a
// command line it cannot use, 3 unreachable or credentials refused.
func TestAdminExitCodes(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case api.PathRevert:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"revert patch \"x@1\": hotswap: no applied patch with this ID","code":404}`)
		case api.PathRestart:
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"baseline: a restart is already in progress","code":409}`)
		case api.PathPush:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":"refused: uid 1001 is not allowed","code":403}`)
		case api.PathStatus:
			fmt.Fprint(w, `{"generation":7,"baseline":{"fingerprint":"abc"},"slots":[{"name":"a.B","type":"func()","generation":0}],"stack":[]}`)
		}
	})
	f := filepath.Join(t.TempDir(), "x.hpatch")
	os.WriteFile(f, []byte("bundle"), 0o644)
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"status", "--addr", addr}, 0, "generation   7"},
		{[]string{"status", "--addr", addr, "--json"}, 0, `"generation": 7`},
		{[]string{"revert", "--addr", addr, "x@1"}, 1, "no applied patch with this ID (404 Not Found)"},
		{[]string{"restart", "--addr", addr}, 1, "a restart is already in progress (409 Conflict)"},
		{[]string{"push", "--addr", addr, f}, 3, "uid 1001 is not allowed (403)"},
		{[]string{"status", "--addr", "unix:///nonexistent/s"}, 3, "unreachable"},
		{[]string{"status", "--addr", addr, "extra"}, 2, "no arguments wanted"},
		{[]string{"revert", "--addr", addr}, 2, "want one patch ID"},
		{[]string{"status", "--addr", "ftp://x"}, 2, "the scheme is unix:// or https://"},
		{[]string{"status", "--addr", addr, "--token", "t"}, 2, "--token and --cert are for https"},
		{[]string{"status", "--addr", "https://127.0.0.1:1", "--cert", "c"}, 2, "--cert and --key go together"},
	} {
		code, out, errOut := runAdmin(context.Background(), tt.args...)
		if code != tt.code || !strings.Contains(out+errOut, tt.out) {
			t.Errorf("%q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tt.args, code, tt.code, tt.out, out, errOut)
		}
	}
}

// TestAdminHTTPS: over https, the token of HOTPATCH_TOKEN is sent as a
// bearer token, --ca verifies the server, and HOTPATCH_ADDR is the
// default address.
func TestAdminHTTPS(t *testing.T) {
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		if got != "Bearer s3cret-token-0123456" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"refused: no bearer token","code":401}`)
			return
		}
		fmt.Fprint(w, `{"events":[{"type":"audit","time":"2026-01-02T03:04:05Z","generation":3,"note":"token ci: push a@1: ok"}]}`)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	t.Setenv("HOTPATCH_ADDR", strings.Replace(srv.URL, "https://", "https://", 1))
	t.Setenv("HOTPATCH_TOKEN", "s3cret-token-0123456")
	code, out, errOut := runAdmin(context.Background(), "history", "--ca", ca)
	if code != 0 || !strings.Contains(out, "token ci: push a@1: ok") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runAdmin(context.Background(), "history", "--ca", ca, "--token", "wrong")
	if code != 3 || !strings.Contains(errOut, "no bearer token (401)") {
		t.Errorf("wrong token: exit %d %s", code, errOut)
	}
	// Without --ca the test server's certificate is not trusted.
	if code, _, errOut = runAdmin(context.Background(), "history"); code != 3 || !strings.Contains(errOut, "certificate") {
		t.Errorf("untrusted server: exit %d %s", code, errOut)
	}
}

// TestAdminEvents: events prints each event until the server ends the
// stream, or until interrupted; both exit 0.
func TestAdminEvents(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hotpatch events\n\n")
		fmt.Fprint(w, "event: applied\ndata: {\"type\":\"applied\",\"generation\":1,\"patch_id\":\"a@1\",\"slots\":[\"x.Y\"]}\n\n")
		fmt.Fprint(w, "event: audit\ndata: {\"type\":\"audit\",\"generation\":1,\"patch_id\":\"a@1\",\"note\":\"uid=0 pid=1: push a@1: ok\"}\n\n")
		fmt.Fprint(w, "event: end\ndata: {}\n\n")
	})
	code, out, errOut := runAdmin(context.Background(), "events", "--addr", addr)
	if code != 0 || !strings.Contains(out, "gen=1 applied a@1 slots x.Y") || !strings.Contains(out, "audit a@1 uid=0 pid=1: push a@1: ok") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runAdmin(context.Background(), "events", "--addr", addr, "--json")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, `{"type":"applied"`) {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
}

// TestAdminEventsInterrupted: an interrupt ends the following with exit 0.
func TestAdminEventsInterrupted(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	addr := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, ": hotpatch events\n\n")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		code, _, _ := runAdmin(ctx, "events", "--addr", addr)
		done <- code
	}()
	<-started
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(time.Minute): // hang detector
		t.Fatal("events did not stop")
	}
}
