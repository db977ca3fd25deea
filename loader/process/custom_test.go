//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
)

func greeterCustom() Custom {
	return Custom{
		Handshake: fixture.Handshake(),
		Plugins:   plugin.PluginSet{"greeter": &fixture.GreeterPlugin{}},
		Slots: func(c plugin.ClientProtocol, _ plugin.Protocol) (map[string]any, error) {
			raw, err := c.Dispense("greeter")
			if err != nil {
				return nil, err
			}
			g, ok := raw.(fixture.Greeter)
			if !ok {
				return nil, fmt.Errorf("dispensed %T, want a fixture.Greeter", raw)
			}
			return map[string]any{"test.Greet": g.Greet}, nil
		},
	}
}

// TestCustomPlugin swaps between builds of an application's own go-plugin
// plugin, over gRPC and over net/rpc, with the same supervision.
func TestCustomPlugin(t *testing.T) {
	t.Parallel()
	reg, s := newTestRegistry()
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewCustom(greeterCustom(), Options{Restart: RestartPolicy{Backoff: 10 * time.Millisecond}})
	t.Cleanup(func() { l.Close(context.Background()) })
	t.Cleanup(func() { mgr.Close(context.Background()) })
	if !l.Match("a/b/grpc.plugin") || l.Match("grpc.proc") {
		t.Fatal("Match")
	}

	p1, err := l.Load(context.Background(), mgr, fixtureAs(t, "grpc-v1.plugin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Apply(context.Background(), p1); err != nil {
		t.Fatal(err)
	}
	if got := s.greet.Load()("ann"); got != "hello v1, ann" {
		t.Fatalf("gRPC build: %q", got)
	}
	p2, err := l.Load(context.Background(), mgr, fixtureAs(t, "netrpc-v2.plugin"))
	if err != nil {
		t.Fatal(err)
	}
	p2.Replaces = p1.ID
	if _, err := mgr.Apply(context.Background(), p2); err != nil {
		t.Fatal(err)
	}
	if got := s.greet.Load()("ann"); got != "hello v2, ann" {
		t.Fatalf("net/rpc build: %q", got)
	}

	// Supervision: kill the process; the loader restarts it.
	in := l.versionOf(p2.ID).cur.Load()
	pid := in.pid()
	var n int
	fmt.Sscan(pid, &n)
	syscall.Kill(n, syscall.SIGKILL)
	eventually(t, 10*time.Second, "a restarted net/rpc build", func() bool {
		in := l.versionOf(p2.ID).cur.Load()
		return in != nil && in.pid() != pid
	})
	if got := s.greet.Load()("bo"); got != "hello v2, bo" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestCustomPluginRefused(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry()
	c := greeterCustom()
	c.Slots = func(plugin.ClientProtocol, plugin.Protocol) (map[string]any, error) {
		return map[string]any{"test.Greet": func(string) int { return 0 }}, nil
	}
	l := NewCustom(c, Options{})
	t.Cleanup(func() { l.Close(context.Background()) })
	_, err := l.Load(context.Background(), &reportSink{reg: reg}, fixtureAs(t, "grpc-v1.plugin"))
	if !errors.Is(err, hotswap.ErrTypeMismatch) || !errors.Is(err, ErrStart) {
		t.Fatalf("Load = %v", err)
	}
	// A hotpatch plugin is not the application's plugin: wrong cookie.
	_, err = l.Load(context.Background(), &reportSink{reg: reg}, fixtureAs(t, "greet-v1.plugin"))
	if !errors.Is(err, ErrStart) {
		t.Fatalf("Load = %v", err)
	}
}
