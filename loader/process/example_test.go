package process_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Greet is the function a plugin serves.
func Greet(name string) string { return "hello again, " + name }

// A plugin's main serves its functions and returns when the host stops it.
func ExampleServe() {
	process.Serve(map[string]any{"example.Greet": Greet})
}

// The host applies every *.proc file dropped into a directory.
func ExampleNew() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mgr := hotswap.New(reg, hotswap.Options{Logger: logger})
	l := process.New(reg, process.Options{Manager: mgr, Logger: logger})
	// The manager closes first, retiring the applied patches gracefully
	// (their processes drain); the loader then stops whatever is left.
	defer func() {
		mgr.Close()
		l.Close()
	}()

	w, err := hotswap.WatchDir(context.Background(), mgr, "patches", l)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	// Calls go to the patch's process once one is applied.
	_ = greet.Load()("world")
}

// A patch file can also be loaded and applied by hand; a refused file says
// why, with the process's standard error.
func ExampleLoader_Load() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr := hotswap.New(reg, hotswap.Options{})
	defer mgr.Close()
	l := process.New(reg, process.Options{Manager: mgr})
	defer l.Close()

	p, err := l.Load(context.Background(), "greet.proc")
	var se *process.StartError
	switch {
	case errors.As(err, &se):
		log.Printf("refused: %v\nits stderr:\n%s", se.Err, se.Stderr)
		return
	case err != nil:
		log.Print(err)
		return
	}
	if _, err := mgr.Apply(context.Background(), p); err != nil {
		_ = p.Retire(context.Background()) // release what was refused
		log.Print(err)
	}
}

// Greeter is an application's own go-plugin interface.
type Greeter interface{ Greet(name string) string }

// An application's own go-plugin plugin gets the same supervised swap.
func ExampleNewCustom() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", strings.ToUpper)

	l := process.NewCustom(reg, process.Custom{
		Handshake: plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "GREETER", MagicCookieValue: "hello"},
		Plugins:   plugin.PluginSet{"greeter": nil /* the application's plugin.Plugin or plugin.GRPCPlugin */},
		Ext:       ".greeter",
		Slots: func(c plugin.ClientProtocol, proto plugin.Protocol) (map[string]any, error) {
			raw, err := c.Dispense("greeter") // the name may depend on proto
			if err != nil {
				return nil, err
			}
			g := raw.(Greeter)
			return map[string]any{"example.Greet": g.Greet}, nil
		},
	}, process.Options{})
	defer l.Close()
}
