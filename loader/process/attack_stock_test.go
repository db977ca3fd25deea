//go:build linux

package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
	"github.com/hotpatch-go/hotpatch/registry"
)

// stockBin is a go-plugin plugin written like go-plugin's examples, built
// by TestMain from testdata/stock; its file name picks shape and behaviour.
var stockBin string

var stockTokens atomic.Int64

// stockAs links the stock plugin under a name that picks its shape ("rpc"
// or "grpc") and behaviour, with a token unique to the call, and returns
// the path and the token. Whatever still carries the token when the test
// ends is killed.
func stockAs(t testing.TB, shape, behaviour string) (path, token string) {
	t.Helper()
	token = fmt.Sprintf("k%dx%d", os.Getpid(), stockTokens.Add(1))
	path = filepath.Join(t.TempDir(), shape+"_"+behaviour+"_"+token+".plugin")
	if err := os.Link(stockBin, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range marked(token) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return path, token
}

// marked returns the live processes that carry token: in their command
// line (the plugin itself) or as STOCK_MARKER in their environment (what
// it started).
func marked(token string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if (hasToken(cmdline, token) || bytes.Contains(environ, []byte("STOCK_MARKER="+token+"\x00"))) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// hasToken reports whether b holds token not followed by a digit: token
// k1x3 is a prefix of k1x33, which belongs to another test (running in
// parallel).
func hasToken(b []byte, token string) bool {
	for {
		i := bytes.Index(b, []byte(token))
		if i < 0 {
			return false
		}
		b = b[i+len(token):]
		if len(b) == 0 || b[0] < '0' || b[0] > '9' {
			return true
		}
	}
}

// stockCustom is the host side of the stock plugin, dispensing by protocol.
func stockCustom() Custom {
	return Custom{
		Handshake: fixture.Handshake(),
		Plugins: plugin.PluginSet{
			"greeter_grpc": &fixture.GreeterGRPC{},
			"greeter":      &fixture.GreeterRPC{},
		},
		Slots: func(c plugin.ClientProtocol, proto plugin.Protocol) (map[string]any, error) {
			name := "greeter"
			if proto == plugin.ProtocolGRPC {
				name = "greeter_grpc"
			}
			raw, err := c.Dispense(name)
			if err != nil {
				return nil, err
			}
			return map[string]any{"test.Greet": raw.(fixture.Greeter).Greet}, nil
		},
	}
}

// newStockEnv is newEnv with a custom loader for the stock plugin.
func newStockEnv(t testing.TB, opts Options) *env {
	t.Helper()
	reg, s := newTestRegistry()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := hotswap.New(reg, hotswap.Options{Logger: logger, Rollback: hotswap.RollbackPolicy{Failures: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = logger
	l := NewCustom(stockCustom(), opts)
	t.Cleanup(func() {
		l.Close(context.Background())
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return &env{reg: reg, s: s, mgr: mgr, l: l, logs: logs}
}

func (e *env) applyPath(t testing.TB, path string) hotswap.Patch {
	t.Helper()
	p, err := e.l.Load(context.Background(), e.mgr, path)
	if err != nil {
		t.Fatalf("load %s: %v", filepath.Base(path), err)
	}
	if _, err := e.mgr.Apply(context.Background(), p); err != nil {
		t.Fatalf("apply %s: %v", filepath.Base(path), err)
	}
	return p
}

// TestStockShapes: stock go-plugin plugins, net/rpc and gRPC, load, serve
// and swap through one custom loader.
func TestStockShapes(t *testing.T) {
	t.Parallel()
	e := newStockEnv(t, Options{})
	rpcPath, _ := stockAs(t, "rpc", "plain")
	e.applyPath(t, rpcPath)
	if got := e.s.greet.Load()("x"); got != "hello from rpc, x" {
		t.Fatalf("greet = %q", got)
	}
	grpcPath, _ := stockAs(t, "grpc", "plain")
	e.applyPath(t, grpcPath)
	if got := e.s.greet.Load()("x"); got != "hello from grpc, x" {
		t.Fatalf("greet = %q", got)
	}
}

// TestStockDescendants: whatever a stock plugin leaves in its process
// group (one sleeper, a hundred, a plugin that ignores SIGTERM or spins)
// is gone after a revert, and the revert and Close are bounded even when
// a stranger holds the plugin's pipes.
func TestStockDescendants(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		shape, behaviour string
		strangers        bool // leaves processes outside its group
	}{
		{"rpc", "sleeper", false},
		{"grpc", "sleeper", false},
		{"rpc", "forkbomb", false},
		{"grpc", "ignoreterm", false},
		{"rpc", "spin", false},
		{"rpc", "daemon", true},
		{"grpc", "stray", true},
	} {
		t.Run(c.shape+"_"+c.behaviour, func(t *testing.T) {
			t.Parallel()
			e := newStockEnv(t, Options{})
			path, token := stockAs(t, c.shape, c.behaviour)
			var p hotswap.Patch
			within(t, 30*time.Second, "Load", func() { p = e.applyPath(t, path) })
			if got := e.s.greet.Load()("x"); !strings.HasPrefix(got, "hello from") {
				t.Fatalf("greet = %q", got)
			}
			before := marked(token)
			within(t, 30*time.Second, "Revert", func() {
				if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
					t.Error(err)
				}
			})
			eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
			within(t, 30*time.Second, "Loader.Close", func() { e.l.Close(context.Background()) })
			left := marked(token)
			if !c.strangers && len(left) > 0 {
				t.Errorf("left over from %v: %v", before, left)
			}
			if c.strangers && len(left) == 0 {
				t.Logf("the strangers died too")
			}
		})
	}
}

// TestStockBadStarts: files that are not well-behaved go-plugin plugins
// are refused in bounded time, with what went wrong; nothing of theirs is
// left; the version applied before keeps serving.
func TestStockBadStarts(t *testing.T) {
	t.Parallel()
	e := newStockEnv(t, Options{StartTimeout: 3 * time.Second})
	good, _ := stockAs(t, "rpc", "plain")
	e.applyPath(t, good)
	for _, c := range []struct {
		shape, behaviour string
		want             []string // words the error must have
	}{
		{"rpc", "exit0", []string{"after the handshake"}},
		{"grpc", "exit0", []string{"after the handshake"}},
		{"rpc", "badaddr", []string{"after the handshake", "netrpc on unix /nonexistent/stock.sock"}},
		{"grpc", "badaddr", []string{"after the handshake", "grpc on unix /nonexistent/stock.sock"}},
		{"rpc", "badproto", []string{"smoke-signals"}},
		{"rpc", "badversion", []string{"42"}},
		{"rpc", "tcpnobody", []string{"netrpc on tcp 127.0.0.1:1"}},
		{"grpc", "tcpnobody", []string{"grpc on tcp 127.0.0.1:1"}},
		{"rpc", "mute", []string{"not ready within 3s", "netrpc on tcp 127.0.0.1:"}},
		{"grpc", "mute", []string{"not ready within 3s", "grpc on tcp 127.0.0.1:"}},
		{"rpc", "megabyte", []string{"instead of a handshake line"}},
		{"rpc", "nonewline", []string{"handshake"}},
		{"rpc", "closestdout", []string{"closed its standard output"}},
		{"rpc", "silentspin", []string{"handshake"}},
	} {
		t.Run(c.shape+"_"+c.behaviour, func(t *testing.T) {
			t.Parallel()
			path, token := stockAs(t, c.shape, c.behaviour)
			var err error
			within(t, 20*time.Second, "Load", func() { _, err = e.l.Load(context.Background(), e.mgr, path) })
			t.Logf("%v", err)
			if !errors.Is(err, ErrStart) {
				t.Fatalf("Load = %v, want ErrStart", err)
			}
			if strings.Contains(err.Error(), "signal: killed") {
				t.Errorf("the error blames a kill the host did itself")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q", w)
				}
			}
			if left := marked(token); len(left) > 0 {
				t.Errorf("left over: %v", left)
			}
			if got := e.s.greet.Load()("x"); got != "hello from rpc, x" {
				t.Errorf("after the failed load, greet = %q", got)
			}
		})
	}
}

// TestStockGracefulStop: a stock plugin asked to stop gets to finish what
// it does after plugin.Serve returns. go-plugin's net/rpc Quit answers
// "connection is shut down" when the plugin exits before the reply, which
// go-plugin took for a refusal and killed the process at once.
func TestStockGracefulStop(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ shape, behaviour string }{
		{"rpc", "cleanup"}, {"grpc", "cleanup"}, {"rpc", "plain"}, {"grpc", "plain"},
	} {
		t.Run(c.shape+"_"+c.behaviour, func(t *testing.T) {
			t.Parallel()
			e := newStockEnv(t, Options{})
			path, token := stockAs(t, c.shape, c.behaviour)
			done := filepath.Join(os.TempDir(), "stock-"+token)
			t.Cleanup(func() { os.Remove(done) })
			p := e.applyPath(t, path)
			if err := e.mgr.Revert(context.Background(), p.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(e.mgr, hotswap.EventRetired, p.ID, "") })
			if _, err := os.Stat(done); err != nil && c.behaviour == "cleanup" {
				t.Errorf("the plugin was not let finish after Serve returned: %v", err)
			}
			if strings.Contains(e.logs.String(), "did not exit when asked") {
				t.Errorf("a plugin that exited when asked is logged as killed")
			}
		})
	}
}

// TestStockBidirectional: a plugin that calls back into the host through
// go-plugin's broker (examples/bidirectional) serves through a custom
// loader, and retires and closes without leaving goroutines behind (see
// TestMain's goleak check).
func TestStockBidirectional(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry()
	bidi := registry.MustRegister(reg, "test.Bidi", func(int) (int, error) { return 0, nil })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewCustom(Custom{
		Handshake: fixture.Handshake(),
		Plugins:   plugin.PluginSet{"counter": &fixture.CounterPlugin{}},
		Slots: func(c plugin.ClientProtocol, _ plugin.Protocol) (map[string]any, error) {
			raw, err := c.Dispense("counter")
			if err != nil {
				return nil, err
			}
			cnt := raw.(fixture.Counter)
			return map[string]any{"test.Bidi": func(n int) (int, error) { return cnt.Add(n, hostAdder{}) }}, nil
		},
	}, Options{})
	t.Cleanup(func() { mgr.Close(context.Background()); l.Close(context.Background()) })
	path, _ := stockAs(t, "bidi", "plain")
	p, err := l.Load(context.Background(), mgr, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got, err := bidi.Load()(i); err != nil || got != i+1 {
			t.Fatalf("Bidi(%d) = %d, %v", i, got, err)
		}
	}
	if err := mgr.Revert(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a retired event", func() bool { return hasEvent(mgr, hotswap.EventRetired, p.ID, "") })
}

type hostAdder struct{}

func (hostAdder) Sum(a, b int) (int, error) { return a + b, nil }
