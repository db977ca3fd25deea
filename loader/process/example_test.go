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
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

// The host applies every *.proc file dropped into a directory.
func ExampleNew() {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mgr, err := hotswap.New(reg, hotswap.Options{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	// The manager owns the loader: its Close retires the applied patches
	// gracefully (their processes drain), then closes the loader.
	defer mgr.Close(context.Background())
	if err := mgr.Attach(process.New(process.Options{Logger: logger})); err != nil {
		log.Fatal(err)
	}

	w, err := patchdir.Watch(context.Background(), mgr, "patches", patchdir.Options{})
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
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Close(context.Background())
	l := process.New(process.Options{})
	if err := mgr.Attach(l); err != nil {
		log.Fatal(err)
	}

	p, err := mgr.Load(context.Background(), l, "greet.proc") // l.Load with mgr as its host
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
		_ = mgr.Release(p) // release what was refused
		log.Print(err)
	}
}

// Greeter is an application's own go-plugin interface.
type Greeter interface{ Greet(name string) string }

// An application's own go-plugin plugin gets the same supervised swap.
func ExampleNewCustom() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", strings.ToUpper)

	l := process.NewCustom(process.Custom{
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
	defer l.Close(context.Background())
}
