package admin_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
)

// TestCrossOriginRefused: an operator's browser that holds the client
// certificate presents it to any page's request, and a page of another
// site may POST text/plain without asking first (fetch with mode
// "no-cors"): such a request reverted the patch. A change that a browser
// marks as coming from another site (Sec-Fetch-Site, or an Origin that is
// not the server's) is refused with 403 and audited; the CLI, which
// sends neither header, is served.
func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	auth, clients := newCA(t, "server-ca"), newCA(t, "client-ca")
	f := start(t, admin.Options{TCP: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{auth.issue(t, "server", true)}},
		ClientCAs: clients.pool})
	base := "https://" + f.rt.Admin().Addrs()[0].String()
	cert := clients.issue(t, "alice", false)
	c := tlsClient(auth.pool, &cert)
	if code, msg := call(t, c, base, "POST", api.PathPush, script(t, "greet", 1, "hi", key), nil); code != 200 {
		t.Fatalf("push: %d %s", code, msg)
	}
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Origin": "https://evil.example"},
	} {
		req, err := http.NewRequest("POST", base+api.PathRevert, strings.NewReader(`{"id":"greet@1"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("revert from another site (%v): %d %s, want 403", hdr, resp.StatusCode, body)
		}
	}
	if got := f.greet.Load()("x"); got != "hi x" {
		t.Errorf("serving %q after the cross-site reverts, want the pushed patch", got)
	}
	if !contains(audits(f.rt), "cert CN=alice: revert: refused") {
		t.Errorf("the refusal is not audited: %q", audits(f.rt))
	}
	if code, msg := call(t, c, base, "POST", api.PathRevert, []byte(`{"id":"greet@1"}`), nil); code != 200 {
		t.Errorf("revert from the CLI: %d %s", code, msg)
	}
}
