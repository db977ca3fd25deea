package process

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/control"
	"github.com/hotpatch-go/hotpatch/registry"
)

// The call channel tests run both ends in the test process: the plugin's
// server (or a hostile stand-in speaking raw frames) on a unix socket, and
// the host's version, instance and adapters dialled to it. No executable is
// built or started; the frames are the same.

// reportSink is a hotswap.Host over a registry that records the failures
// reported to it.
type reportSink struct {
	reg     *registry.Registry
	mu      sync.Mutex
	reports []error
}

func (m *reportSink) Slot(name string) (registry.Slot, bool) { return m.reg.Lookup(name) }
func (m *reportSink) Record(hotswap.Event) error             { return nil }
func (m *reportSink) Logger() *slog.Logger                   { return slog.New(slog.DiscardHandler) }

func (m *reportSink) ReportFailure(_ string, err error) {
	m.mu.Lock()
	m.reports = append(m.reports, err)
	m.mu.Unlock()
}

func (m *reportSink) RollBack(context.Context, string, error) error { return nil }

func (m *reportSink) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reports)
}

// chanEnv is a host bound to a call channel socket.
type chanEnv struct {
	l     *Loader
	v     *version
	in    *instance
	sink  *reportSink
	impls map[string]any
}

// newChanEnv binds a host with registry reg to the plugin answering on
// socket with the given hello slots, over conns connections.
func newChanEnv(t testing.TB, reg *registry.Registry, socket string, slots []control.SlotInfo, conns int, mem *callchan.MemBudget) *chanEnv {
	t.Helper()
	sink := &reportSink{reg: reg}
	l := New(Options{Logger: slog.New(slog.DiscardHandler)})
	v := newVersion(l, sink, "chan-test", "chan-test.proc", "", t.TempDir())
	in := &instance{v: v, idle: make(chan struct{}, 1), hello: control.HelloReply{Version: callchan.Version, Socket: socket, Slots: slots}}
	for range conns {
		c, err := net.Dial("unix", socket)
		if err != nil {
			t.Fatal(err)
		}
		if mem != nil {
			in.conns = append(in.conns, callchan.NewConnMem(c, mem))
		} else {
			in.conns = append(in.conns, callchan.NewConn(c))
		}
	}
	t.Cleanup(func() {
		for _, cc := range in.conns {
			cc.Close(ErrUnavailable)
		}
	})
	impls, err := v.bind(in)
	if err != nil {
		t.Fatal(err)
	}
	v.cur.Store(in)
	return &chanEnv{l: l, v: v, in: in, sink: sink, impls: impls}
}

// startServer runs the plugin's server for served in the test process and
// returns its socket and its slots as the hello reports them.
func startServer(t testing.TB, served map[string]any) (string, []control.SlotInfo) {
	t.Helper()
	srv, err := callchan.NewServer(context.Background(), served)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	socket, err := srv.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	return socket, helloSlots(srv)
}

// helloSlots are the slots of srv as its hello reports them.
func helloSlots(srv *callchan.Server) []control.SlotInfo {
	var out []control.SlotInfo
	for _, sl := range srv.Slots() {
		out = append(out, control.SlotInfo{Name: sl.Name, Type: sl.Type, Desc: sl.Desc})
	}
	return out
}

// servePlugin runs the plugin's server for served in the test process and
// binds a host with registry reg to it.
func servePlugin(t testing.TB, reg *registry.Registry, served map[string]any, conns int) *chanEnv {
	t.Helper()
	socket, slots := startServer(t, served)
	return newChanEnv(t, reg, socket, slots, conns, nil)
}

// rawPlugin is a hostile stand-in for a plugin: serve runs for each
// connection the host dials (n counts them from 0).
func rawPlugin(t testing.TB, serve func(n int, c net.Conn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "call.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(n, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return path
}

// slotsOf describes the hello slots of the funcs in served, sorted by name
// as a plugin reports them.
func slotsOf(t testing.TB, served map[string]any) []control.SlotInfo {
	t.Helper()
	srv, err := callchan.NewServer(context.Background(), served)
	if err != nil {
		t.Fatal(err)
	}
	return helloSlots(srv)
}
