package process

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
)

// TestChanPluginClosesConnection: a plugin that closes its call
// connections while it keeps running fails the calls on them with a
// protocol error reported once per connection it dropped (it used to be
// labelled an exit, which nothing reports, so a plugin dropping every
// connection failed every call without a rollback); the same close from a
// process that did exit is left to the supervisor.
func TestChanPluginClosesConnection(t *testing.T) {
	for _, exited := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "exited"}[exited], func(t *testing.T) {
			reg, served := limitSlots()
			slots := slotsOf(t, served)
			sock := rawPlugin(t, func(n int, c net.Conn) {
				calls := make(chan [2]any, 16)
				go callchan.ReadCalls(c, calls)
				<-calls
				<-calls
				c.Close()
			})
			e := newChanEnv(t, reg, sock, slots, 1, nil)
			r := &procRunner{exited: make(chan struct{})}
			if exited {
				close(r.exited)
			}
			e.in.run = r
			echo := e.impls["t.Echo"].(func(string) (string, error))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { _, errs[i] = echo("x") })
			}
			wg.Wait()
			protocol := 0
			for i, err := range errs {
				if err == nil {
					t.Errorf("call %d succeeded", i)
				}
				if errors.Is(err, ErrProtocol) {
					protocol++
				}
			}
			if !exited && protocol != 1 {
				t.Errorf("%d calls failed with a protocol error, want the one that met the close: %v", protocol, errs)
			}
			want := 1
			if exited {
				want = 0
			}
			if got := e.sink.count(); got != want {
				t.Errorf("%d failures reported, want %d: %v", got, want, e.sink.reports)
			}
		})
	}
}

// TestChanFrameForUnknownCall: a frame for a call the host never made on
// the connection is a protocol error (reported once, the connection
// redialled); one for a call that gave up is dropped quietly.
func TestChanFrameForUnknownCall(t *testing.T) {
	reg, served := limitSlots()
	slots := slotsOf(t, served)
	sock := rawPlugin(t, func(n int, c net.Conn) {
		calls := make(chan [2]any, 16)
		go callchan.ReadCalls(c, calls)
		for call := range calls {
			id := call[0].(uint64)
			if n == 0 {
				id += 1000 // never issued
			}
			if _, err := c.Write(callchan.StringResult(id, "x")); err != nil {
				return
			}
		}
	})
	e := newChanEnv(t, reg, sock, slots, 1, nil)
	echo := e.impls["t.Echo"].(func(string) (string, error))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := echo("a"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("err = %v, want a protocol error", err)
		}
	case <-ctx.Done():
		t.Fatal("the call waits for good while the plugin answers other ids")
	}
	if got := e.sink.count(); got != 1 {
		t.Fatalf("%d failures reported, want 1", got)
	}
	if got, err := echo("b"); err != nil || got != "x" {
		t.Fatalf("after redial: %q, %v", got, err)
	}
}
