package admin_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
)

// TestAttack3TokenNames: a token whose name is empty would be accepted
// by the comparison and then refused as unknown (403 for the right
// token), and two names for one token would make the audit name either
// at random: Start refuses both and says which.
func TestAttack3TokenNames(t *testing.T) {
	t.Parallel()
	withCert := &tls.Config{Certificates: []tls.Certificate{newCA(t, "ca").issue(t, "server", true)}}
	for _, tc := range []struct {
		tokens map[string]string
		want   string
	}{
		{map[string]string{"": "0123456789abcdef0123"}, "empty name"},
		{map[string]string{"ci": "0123456789abcdef0123", "alice": "0123456789abcdef0123"}, "same token"},
	} {
		mgr := newManager(t)
		srv, err := admin.Start(admin.Target{Manager: mgr}, admin.Options{TCP: "127.0.0.1:0", TLS: withCert, Tokens: tc.tokens})
		if err == nil {
			srv.Close(t.Context())
			t.Errorf("Tokens %v: started", tc.tokens)
			continue
		}
		if !errors.Is(err, admin.ErrInsecureTCP) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tokens %v: %v, want ErrInsecureTCP saying %q", tc.tokens, err, tc.want)
		}
	}
}

// TestAttack3RelativeSocket: a relative socket path is the one of the
// directory the server started in; a chdir afterwards must not make
// Close remove a file of the same name in the new working directory (and
// leave the socket behind).
func TestAttack3RelativeSocket(t *testing.T) {
	a, b := shortDir(t), shortDir(t)
	t.Chdir(a)
	srv, err := admin.Start(admin.Target{Manager: newManager(t)}, admin.Options{Socket: "s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(b)
	if err := os.WriteFile("s", []byte("someone's data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b, "s")); err != nil {
		t.Errorf("Close removed a file of the new working directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(a, "s")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket behind: %v", err)
	}
}
