// Command server is the admin tests' server: a runtime with one slot,
// signed bundles, a state directory and the admin API on a socket. It
// prints "ready" once the API serves and runs until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/bundle"
)

func main() {
	socket := flag.String("socket", "", "admin socket")
	state := flag.String("state", "", "state directory")
	trust := flag.String("trust", "", "trust file")
	flag.Parse()
	keys, err := bundle.ReadTrusted(*trust)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rt, err := hotpatch.New(hotpatch.Options{
		StateDir: *state,
		Bundles:  &bundle.Policy{Trusted: keys, RequireSigned: true},
		Admin:    &admin.Options{Socket: *socket},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hotpatch.MustRegister(rt, "example.Greet", func(n string) string { return "hello " + n })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := rt.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := rt.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
