//go:build linux || darwin

package admin_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin"
)

// TestUnixOtherUID: a peer of another user (not root, not the server's,
// not allowed) gets 403 and is logged; once allowed, 200.
func TestUnixOtherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	const nobody = 65534
	d := shortDir(t)
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(d, "client")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		allow []int
		want  string
	}{{nil, "403"}, {[]int{nobody}, "200"}} {
		f := start(t, admin.Options{Socket: filepath.Join(d, fmt.Sprint("s", len(tt.allow))), AllowUIDs: tt.allow})
		// The mode keeps other users out before any check; open it so
		// that the peer check is what refuses.
		if err := os.Chmod(f.sock, 0o666); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "ADMIN_TEST_CLIENT="+f.sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("allow %v: client got %q, want %s", tt.allow, got, tt.want)
		}
		if tt.want == "403" && !strings.Contains(f.logs.String(), "uid=65534") {
			t.Errorf("refusal not logged: %s", f.logs.String())
		}
	}
}
