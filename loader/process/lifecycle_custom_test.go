//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
	"github.com/hotpatch-go/hotpatch/registry"
)

// kvStyleCustom is a custom loader in the style of go-plugin's KV example:
// the gRPC build serves "greeter_grpc", the net/rpc build "greeter"; a
// third build (net/rpc) serves two plugins, "greeter" and "shouter".
func kvStyleCustom(protos *[]plugin.Protocol) Custom {
	return Custom{
		Handshake: fixture.Handshake(),
		Plugins: plugin.PluginSet{
			"greeter_grpc": &fixture.GreeterGRPC{},
			"greeter":      &fixture.GreeterRPC{},
			"shouter":      &fixture.GreeterRPC{},
		},
		Slots: func(c plugin.ClientProtocol, proto plugin.Protocol) (map[string]any, error) {
			*protos = append(*protos, proto)
			if proto == plugin.ProtocolGRPC {
				raw, err := c.Dispense("greeter_grpc")
				if err != nil {
					return nil, err
				}
				return map[string]any{"test.Greet": raw.(fixture.Greeter).Greet}, nil
			}
			raw, err := c.Dispense("greeter")
			if err != nil {
				return nil, err
			}
			impls := map[string]any{"test.Greet": raw.(fixture.Greeter).Greet}
			if sh, err := c.Dispense("shouter"); err == nil { // net/rpc asks the plugin what it serves
				impls["test.Shout"] = sh.(fixture.Greeter).Greet
			}
			return impls, nil
		},
	}
}

// TestCustomDispenseByProtocol swaps, in one loader, a gRPC build and a
// net/rpc build that serve their plugin under different names, and a
// net/rpc build whose slots come from two plugins of one process.
func TestCustomDispenseByProtocol(t *testing.T) {
	t.Parallel()
	reg, s := newTestRegistry()
	shout := registry.MustRegister(reg, "test.Shout", strings.ToLower)
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var protos []plugin.Protocol
	l := NewCustom(kvStyleCustom(&protos), Options{})
	t.Cleanup(func() { l.Close(context.Background()) })
	t.Cleanup(func() { mgr.Close(context.Background()) })

	prev := ""
	swap := func(name string) {
		t.Helper()
		p, err := l.Load(context.Background(), mgr, fixtureAs(t, name))
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		p.Replaces = prev
		if _, err := mgr.Apply(context.Background(), p); err != nil {
			t.Fatalf("apply %s: %v", name, err)
		}
		prev = p.ID
	}
	swap("kvgrpc-v1.plugin")
	if got := s.greet.Load()("ann"); got != "hello v1, ann" {
		t.Fatalf("gRPC build: %q", got)
	}
	swap("kvrpc-v2.plugin")
	if got := s.greet.Load()("ann"); got != "hello v2, ann" {
		t.Fatalf("net/rpc build: %q", got)
	}
	swap("multi-v3.plugin")
	if got := s.greet.Load()("ann"); got != "hello v3, ann" {
		t.Fatalf("two-plugin build, greeter: %q", got)
	}
	if got := shout.Load()("ann"); got != "ANN! (v3)" {
		t.Fatalf("two-plugin build, shouter: %q", got)
	}
	swap("kvgrpc-v4.plugin") // back to one plugin: test.Shout falls back to the baseline
	if got := s.greet.Load()("bo"); got != "hello v4, bo" {
		t.Fatalf("gRPC build again: %q", got)
	}
	if got := shout.Load()("BO"); got != "bo" {
		t.Fatalf("test.Shout after the two-plugin build left: %q", got)
	}
	want := []plugin.Protocol{plugin.ProtocolGRPC, plugin.ProtocolNetRPC, plugin.ProtocolNetRPC, plugin.ProtocolGRPC}
	if fmt.Sprint(protos) != fmt.Sprint(want) {
		t.Fatalf("Slots saw protocols %v, want %v", protos, want)
	}
}

// TestCustomDispenseError: a name the build does not serve is refused with
// go-plugin's reason and the protocol.
func TestCustomDispenseError(t *testing.T) {
	t.Parallel()
	reg, _ := newTestRegistry()
	l := NewCustom(Custom{
		Handshake: fixture.Handshake(),
		Plugins:   plugin.PluginSet{"greeter": &fixture.GreeterPlugin{}},
		Slots: func(c plugin.ClientProtocol, _ plugin.Protocol) (map[string]any, error) {
			_, err := c.Dispense("nosuch")
			return nil, err
		},
	}, Options{})
	t.Cleanup(func() { l.Close(context.Background()) })
	_, err := l.Load(context.Background(), &reportSink{reg: reg}, fixtureAs(t, "netrpc-v1.plugin"))
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "nosuch") || !strings.Contains(err.Error(), "netrpc") {
		t.Fatalf("Load = %v", err)
	}
}
