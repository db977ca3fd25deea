//go:build linux

package process

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCloseDuringHandshake: Loader.Close while a Load waits for a plugin's
// handshake stops that plugin before Close returns, and the Load fails at
// once with ErrClosed instead of waiting out StartTimeout.
func TestCloseDuringHandshake(t *testing.T) {
	t.Parallel()
	e := newStockEnv(t, Options{StartTimeout: time.Minute})
	path, token := stockAs(t, "rpc", "silentspin")
	errc := make(chan error, 1)
	go func() {
		_, err := e.l.Load(context.Background(), e.mgr, path)
		errc <- err
	}()
	eventually(t, 20*time.Second, "the plugin to start", func() bool { return len(marked(token)) > 0 })
	within(t, 20*time.Second, "Loader.Close", func() { e.l.Close(context.Background()) })
	if left := marked(token); len(left) > 0 {
		t.Errorf("Close returned with the plugin still running: %v", left)
	}
	select {
	case err := <-errc:
		t.Logf("%v", err)
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Load = %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Load still waits after Close")
	}
}
