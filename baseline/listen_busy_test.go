//go:build linux || darwin

package baseline

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestListenAddressInUse: a busy address is said once, with what to do,
// whether or not the system's error comes wrapped.
func TestListenAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	_, sysErr := net.Listen("tcp", addr)
	if sysErr == nil {
		t.Fatal("a second listen on a busy address succeeded")
	}
	wrapped := fmt.Errorf("can't create new listener: %w", sysErr) // as tableflip says it
	for _, in := range []error{sysErr, wrapped} {
		msg := listenError("tcp", addr, in).Error()
		if strings.Count(msg, addr) != 1 || !strings.Contains(msg, "choose another address") {
			t.Errorf("error %q: want the address once and the advice", msg)
		}
	}
}
