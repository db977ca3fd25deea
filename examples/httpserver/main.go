// Command httpserver is a small bookshop API whose logic can be patched
// while it runs: drop a Go file into the patch directory and the next
// request runs the new code. See README.md for the tour.
//
// Usage:
//
//	httpserver [-addr 127.0.0.1:8080] [-patches ./patches] [-admin-socket PATH] [-trust PUB] [flags]
//
// It serves GET /greet?name=NAME, /price?isbn=ISBN&qty=N,
// /books?q=QUERY, /recommend?isbn=ISBN&n=N, /admin/patches, the
// /debug/hotpatch/ page and Prometheus /metrics, stops gracefully on
// SIGINT or SIGTERM, and on SIGHUP restarts into the binary it was
// started from (the baseline step): the new process inherits the
// listener, the old one drains and exits, no request fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/examples/httpserver/symbols"
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
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}

// version names this build in the "serving" log line and in the
// X-Version header of every response; set it with go build -ldflags
// "-X main.version=...", to tell baselines apart.
var version = "dev"

// versioned sets the X-Version header of every response to the build's
// version, so that a client can tell which baseline answered.
func versioned(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", version)
		h.ServeHTTP(w, r)
	})
}

// shutdownTimeout bounds the graceful shutdown: requests in flight get this
// long to finish.
const shutdownTimeout = 10 * time.Second

// run runs the server until ctx ends. Scripts print to stdout; logs go to
// stderr. ready, if set, is called with the listening address once the
// server accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	return serve(ctx, args, stdout, stderr, ready, false)
}

// serve is run; with graceful, the listener comes from the baseline step
// (one per process, hence not in the in-process tests) and SIGHUP
// restarts the server.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string), graceful bool) error {
	fs := flag.NewFlagSet("httpserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `host:port`")
	dir := fs.String("patches", "./patches", "watch `dir` for patches: scripts (*.go), native patches (*.so), process patches (*.proc); created if missing")
	debounce := fs.Duration("debounce", watcher.DefaultDebounce, "how long a patch file must stay unchanged before it is loaded")
	evalTimeout := fs.Duration("eval-timeout", script.DefaultEvalTimeout, "bound on a script's top-level code")
	maxSize := fs.Int64("max-size", script.DefaultMaxSize, "largest script accepted, in `bytes`")
	rollback := fs.Int("rollback-after", 3, "revert a patch on probation after `n` failed requests (0: no count threshold)")
	ratio := fs.Float64("rollback-ratio", 0, "revert a patch on probation when this `fraction` of its requests fail, once it served 20 (0: no ratio threshold)")
	window := fs.Duration("probation", time.Minute, "how long a new patch stays on probation before it is committed")
	adminSocket := fs.String("admin-socket", "", "serve the admin API (hotpatch status, push, revert, restart) on the unix socket `path` (default: off)")
	direct := fs.Bool("direct", false, "serve /greet, /price, /books and /recommend with the compiled logic called directly, without slots: for the throughput comparison of go run ./bench")
	var trust []string
	fs.Func("trust", "load signed bundles (*.hpatch) and accept the signatures of the public keys in `file` (hotpatch keygen's NAME.pub; repeatable); unsigned bundles load too", func(s string) error {
		trust = append(trust, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The baseline step: a new process inherits the listener and runs
	// this readiness check on its own handler before the old one drains.
	var step *baseline.Options
	var handler http.Handler // set before the check can run
	if graceful {
		step = &baseline.Options{DrainTimeout: shutdownTimeout, Check: func(ctx context.Context) error {
			return baseline.CheckHandler(handler, "/greet?name=ready")(ctx)
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
	if *adminSocket != "" {
		opts.Admin = &admin.Options{Socket: *adminSocket}
	}
	if len(trust) > 0 {
		opts.Bundles = &bundle.Policy{}
		for _, f := range trust {
			keys, err := bundle.ReadTrusted(f)
			if err != nil {
				return fmt.Errorf("-trust: %w", err)
			}
			opts.Bundles.Trusted = append(opts.Bundles.Trusted, keys...)
		}
	}
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
	srv := newServer(hp)
	handler = versioned(srv.routes())
	if *direct {
		handler = versioned(srv.directRoutes())
	}
	if err := hp.Start(ctx); err != nil {
		return err
	}

	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	listen, up := net.Listen, hp.Upgrader()
	var handedOver <-chan struct{} // closed once a new process took over; nil without the step
	if up != nil {
		listen, handedOver = up.Listen, up.Exit()
		up.OnDrain(baseline.HTTPServer(hs))
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
	go func() { served <- hs.Serve(ln) }()
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
		// Closes the listener, then drains hs.
		err := up.Shutdown(context.Background())
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
