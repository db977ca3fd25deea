package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin/api"
)

// TestAttackCLIAddrAndToken: the address forms and tokens an operator
// types: unix:relative, unix paths with '%' or '#', $HOTPATCH_TOKEN set
// for another server while using a socket, a token with white space
// around (trimmed) or inside (refused, exit 2), https without a host, and
// a server that is down (exit 3, naming the address).
func TestAttackCLIAddrAndToken(t *testing.T) {
	addr := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"generation":7,"baseline":{},"slots":[],"stack":[]}`)
	})
	sock := strings.TrimPrefix(addr, "unix://")
	odd := filepath.Join(filepath.Dir(sock), "a%41#b")
	if err := os.Symlink(sock, odd); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(sock))
	t.Setenv("HOTPATCH_TOKEN", "token-for-another-server-0123")
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"status", "--addr", "unix:" + filepath.Base(sock)}, 0, "generation   7"},
		{[]string{"status", "--addr", "unix:" + sock}, 0, "generation   7"},
		{[]string{"status", "--addr", "unix://" + odd}, 0, "generation   7"},
		{[]string{"status", "--addr", "unix:///nonexistent/s"}, 3, "GET /v1/status at unix:///nonexistent/s: dial unix /nonexistent/s"},
		{[]string{"status", "--addr", "unix:"}, 2, "names no socket"},
		{[]string{"status", "--addr", "https://"}, 2, "names no host"},
		{[]string{"status", "--addr", "http://127.0.0.1:1"}, 2, "the scheme is unix:// or https://"},
		{[]string{"status", "--addr", "https://127.0.0.1:1", "--token", "two words-0123456789"}, 2, "--token: the token holds a space"},
	} {
		code, out, errs := runAdmin(context.Background(), tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.out) {
			t.Errorf("%v: %d %q %q, want %d %q", tt.args, code, out, errs, tt.code, tt.out)
		}
	}
	// A token with a newline around it, as read from a file, is sent
	// without it.
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		fmt.Fprint(w, `{"generation":1,"baseline":{},"slots":[],"stack":[]}`)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	t.Setenv("HOTPATCH_TOKEN", " ci-token-0123456789\n")
	code, out, errs := runAdmin(context.Background(), "status", "--json", "--addr", srv.URL, "--ca", ca)
	var st api.Status
	if code != 0 || got != "Bearer ci-token-0123456789" || json.Unmarshal([]byte(out), &st) != nil || st.Generation != 1 {
		t.Errorf("token from the environment: %d %q %q, sent %q", code, out, errs, got)
	}
}
