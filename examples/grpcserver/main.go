// Command grpcserver is a warehouse inventory served over gRPC whose logic
// can be patched while it runs: drop a Go file, a native patch (.so) or a
// process patch (.proc) into the patch directory and the next call runs
// the new code. See README.md for the tour.
//
// Usage:
//
//	grpcserver [-addr 127.0.0.1:50051] [-patches ./patches] [flags]
//
// It serves the inventory.v1.Inventory service (Quote, Search, and the
// server-streaming Audit), the standard health service
// (grpc.health.v1.Health) and server reflection, so that grpcurl and
// grpc-health-probe work against it. It stops gracefully on SIGINT or
// SIGTERM, and on SIGHUP restarts into the binary it was started from (the
// baseline step): the new process inherits the listener, the old one stops
// with GracefulStop, which lets every call and stream in flight finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/examples/grpcserver/inventorypb"
	"github.com/hotpatch-go/hotpatch/examples/grpcserver/symbols"
	"github.com/hotpatch-go/hotpatch/hotgrpc"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/watcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := serve(ctx, os.Args[1:], os.Stdout, os.Stderr, nil, true)
	switch {
	case errors.Is(err, flag.ErrHelp): // -h: the usage was printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "grpcserver:", err)
		os.Exit(1)
	}
}

// version names this build in the "serving" log line and in the
// x-version header of every answer; set it with go build -ldflags
// "-X main.version=...", to tell baselines apart.
var version = "dev"

// stopTimeout bounds the graceful stop: calls and streams in flight get
// this long to finish before the rest are cut.
const stopTimeout = 10 * time.Second

// serve runs the server until ctx ends. Scripts print to stdout; logs go
// to stderr. ready, if set, is called with the listening address once the
// server accepts connections. With graceful, the listener comes from the
// baseline step (one per process, hence not in in-process tests) and
// SIGHUP restarts the server.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string), graceful bool) error {
	fs := flag.NewFlagSet("grpcserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:50051", "listen on `host:port`")
	dir := fs.String("patches", "./patches", "watch `dir` for patches: scripts (*.go), native patches (*.so), process patches (*.proc); created if missing")
	debounce := fs.Duration("debounce", watcher.DefaultDebounce, "how long a patch file must stay unchanged before it is loaded")
	evalTimeout := fs.Duration("eval-timeout", script.DefaultEvalTimeout, "bound on a script's top-level code")
	maxSize := fs.Int64("max-size", script.DefaultMaxSize, "largest script accepted, in `bytes`")
	rollback := fs.Int("rollback-after", 3, "revert a patch on probation after `n` failed calls (0: no count threshold)")
	ratio := fs.Float64("rollback-ratio", 0, "revert a patch on probation when this `fraction` of its calls fail, once it served 20 (0: no ratio threshold)")
	window := fs.Duration("probation", time.Minute, "how long a new patch stays on probation before it is committed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The baseline step: a new process inherits the listener and runs
	// this readiness check, a Quote through its own service (and so
	// through the slot), before the old one drains.
	var step *baseline.Options
	var srv *server // set before the check can run
	if graceful {
		step = &baseline.Options{DrainTimeout: stopTimeout, Check: func(ctx context.Context) error {
			_, err := srv.Quote(ctx, &inventorypb.QuoteRequest{Sku: "NUT-M6", Qty: 1})
			return err
		}}
	}

	// The whole framework: the slots' registry and manager, the loaders of
	// scripts (*.go), native patches (*.so, linux with cgo) and process
	// patches (*.proc), and the watch of the patch directory.
	opts := hotpatch.Options{Dir: *dir, Logger: log, Symbols: symbols.Symbols,
		Rollback: hotswap.RollbackPolicy{Failures: *rollback, Ratio: *ratio, Window: *window},
		Watch:    patchdir.Options{Debounce: *debounce},
		// A script call running past CallTimeout stops its interpreter; the
		// panic that follows is reported and counts toward rollback.
		Script:   script.Options{EvalTimeout: *evalTimeout, CallTimeout: 10 * time.Second, MaxSize: *maxSize, Stdout: stdout, Stderr: stderr},
		Baseline: step}
	hp, err := hotpatch.New(opts)
	if errors.Is(err, baseline.ErrNotSupported) {
		log.Warn("no graceful restart on this platform: SIGHUP does nothing", "err", err)
		opts.Baseline = nil
		hp, err = hotpatch.New(opts)
	}
	if err != nil {
		return err
	}
	defer hp.Close(context.Background()) // reverts every slot, retires every patch
	srv = newServer(hp)
	if err := hp.Start(ctx); err != nil {
		return err
	}

	// The interceptors of package hotgrpc count each call of a
	// slot-backed method for the probation of the patch that served it,
	// and turn a panic into codes.Internal; health and reflection are not
	// behind slots and pass through.
	mgr := hp.Manager()
	// Health watches last as long as their clients like, and
	// GracefulStop waits for every stream: they end when the stop begins.
	draining, drain := context.WithCancel(context.Background())
	defer drain()
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(versionUnary, hotgrpc.UnaryServerInterceptor(mgr, slotOf)),
		grpc.ChainStreamInterceptor(versionStream, endWatches(draining), hotgrpc.StreamServerInterceptor(mgr, slotOf)),
	)
	inventorypb.RegisterInventoryServer(gs, srv)
	hs := health.NewServer() // every service SERVING until the stop
	hs.SetServingStatus(inventorypb.Inventory_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	// stop tells health watchers this process is going and ends their
	// watches (they reconnect, to the new process after a baseline
	// step), then stops: its graceful form waits for every call and stream in flight, its forced
	// form (at the deadline) cuts them.
	stop := baseline.Graceful(func() { hs.Shutdown(); drain(); gs.GracefulStop() }, gs.Stop)

	listen, up := net.Listen, hp.Upgrader()
	var handedOver <-chan struct{} // closed once a new process took over; nil without the step
	if up != nil {
		listen, handedOver = up.Listen, up.Exit()
		up.OnDrain(stop)
	}
	ln, err := listen("tcp", *addr)
	if err != nil {
		return err
	}
	if up != nil {
		// The patches are applied (Start): report ready, and serve only
		// then, so that a process that fails its check has accepted
		// nothing from the queue it shares with the old one.
		if err := up.Ready(ctx); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "patches", *dir, "slots", hp.Registry().Len(), "pid", os.Getpid(), "version", version)
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		return err // the listener failed; nothing to drain
	case <-handedOver:
		log.Info("a new process took over; draining")
	case <-ctx.Done():
	}
	log.Info("shutting down")
	if up != nil {
		// Closes the listener, then runs stop.
		err := up.Shutdown(context.Background())
		<-served // nil: GracefulStop closed the listener
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err = stop(sctx)
	<-served
	return err
}

// endWatches ends the health service's Watch streams once draining ends:
// the client sees the stream end (codes.Canceled) and watches again,
// reaching the process that serves then. Other streams pass through.
func endWatches(draining context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != healthpb.Health_Watch_FullMethodName {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(draining, cancel)()
		return handler(srv, ctxStream{ss, ctx})
	}
}

// ctxStream is a server stream with another context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
