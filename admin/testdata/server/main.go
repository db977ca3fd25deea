// Command server is the admin tests' server: a runtime with one slot,
// signed bundles, a state directory and the admin API on a socket. It
// prints "ready pid=PID" once the API serves and runs until SIGTERM; with
// -baseline, until a restart over the API has handed over to the next
// process, which prints its own line.
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
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/bundle"
)

func main() {
	socket := flag.String("socket", "", "admin socket")
	state := flag.String("state", "", "state directory")
	trust := flag.String("trust", "", "trust file")
	step := flag.Bool("baseline", false, "turn the baseline step on")
	ident := flag.String("identity", "", "the baseline identity the journal records (default: the executable's)")
	flag.Parse()
	keys, err := bundle.ReadTrusted(*trust)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := hotpatch.Options{
		StateDir: *state,
		Bundles:  &bundle.Policy{Trusted: keys, RequireSigned: true},
		Admin:    &admin.Options{Socket: *socket},
	}
	opts.Journal.Identity = *ident
	if *step {
		opts.Baseline = &baseline.Options{NoSignal: true}
	}
	rt, err := hotpatch.New(opts)
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
	var exit <-chan struct{}
	if up := rt.Upgrader(); up != nil {
		if err := up.Ready(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		exit = up.Exit()
	}
	fmt.Printf("ready pid=%d\n", os.Getpid())
	select {
	case <-ctx.Done():
	case <-exit:
	}
	if err := rt.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
