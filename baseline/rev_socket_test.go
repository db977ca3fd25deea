//go:build linux

package baseline_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
)

// TestFailedRestartKeepsUnixSocket: a new process that fails its
// readiness check and shuts its upgrader down on the way out (as
// Runtime.Close does) leaves the unix socket's file in place: the old
// process keeps serving on it. tableflip's Stop removed the file of every
// unix socket the process had taken, so the old process served on a
// socket nobody could connect to any more (the admin API's socket, which
// the operator needs to revert the patch that failed the restart).
func TestFailedRestartKeepsUnixSocket(t *testing.T) {
	tr := startTree(t, bins.v1, "-ready-timeout=20s")
	first := tr.cur
	sock := tr.sock
	unixClient := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	viaSocket := func() (string, error) {
		resp, err := unixClient.Get("http://unix/version")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	want := "v1 " + strconv.Itoa(first)
	if body, err := viaSocket(); err != nil || body != want {
		t.Fatalf("through the unix socket before the restart: %q, %v", body, err)
	}
	tr.switchTo(bins.check)
	if body, err := tr.get("/restart"); err == nil {
		t.Fatalf("restart into a binary that fails its check: %q, want an error", body)
	}
	tr.waitFor("event pid=" + strconv.Itoa(first) + " type=baseline-failed")
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the unix socket's file after the failed restart: %v", err)
	}
	if body, err := viaSocket(); err != nil || body != want {
		t.Errorf("through the unix socket after the failed restart: %q, %v; want the old process", body, err)
	}
	tr.switchTo(bins.v2)
	tr.restart(false, "v2")
	tr.stop()
}
