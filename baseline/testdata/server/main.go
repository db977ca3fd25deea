// Command server is the fixture of the baseline tests: an HTTP server on a
// TCP and a unix listener obtained from baseline, which answers
// "VERSION PID" and restarts on SIGHUP or GET /restart. The version is set
// with -ldflags -X; a copy whose file name ends in -exit, -hang, -check or
// -termcheck is a bad new binary: it exits at start, never reports ready,
// fails its readiness check, or has a check that ends only once the
// process got SIGTERM. One ending in -usr1check passes its check on
// SIGUSR1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

var version = "dev"

// printer records events as lines on stdout, which the tests read.
type printer struct{}

func (printer) Record(e hotswap.Event) error {
	fmt.Printf("event pid=%d type=%s err=%q note=%q\n", os.Getpid(), e.Type, fmt.Sprint(e.Err), e.Note)
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address")
	sock := flag.String("unix", "", "unix socket path")
	readyTimeout := flag.Duration("ready-timeout", 0, "baseline ReadyTimeout")
	linger := flag.Duration("linger", 0, "time between handing over and calling Shutdown")
	flag.Parse()
	mode := ""
	if exe, err := os.Executable(); err == nil {
		if i := strings.LastIndexByte(exe, '-'); i >= 0 {
			mode = exe[i+1:]
		}
	}
	fmt.Printf("started pid=%d version=%s\n", os.Getpid(), version)
	if mode == "exit" {
		fmt.Fprintln(os.Stderr, "fatal: broken configuration on purpose")
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, mode, *addr, *sock, *readyTimeout, *linger); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Printf("exit pid=%d\n", os.Getpid())
}

func run(ctx context.Context, mode, addr, sock string, readyTimeout, linger time.Duration) error {
	mux := http.NewServeMux()
	var up *baseline.Upgrader
	body := fmt.Sprintf("%s %d", version, os.Getpid())
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		// A request in flight across the hand-off: it answers once this
		// process has handed over, during its drain.
		fmt.Printf("slow pid=%d\n", os.Getpid())
		select {
		case <-up.Exit():
			fmt.Fprint(w, body)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /restart", func(w http.ResponseWriter, r *http.Request) {
		if err := up.Restart(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	check := baseline.CheckHandler(mux, "/version")
	switch mode {
	case "check":
		check = func(context.Context) error { return errors.New("the database is unreachable on purpose") }
	case "usr1check":
		// A check that passes on SIGUSR1, so that a test can act while
		// it runs (kill the old process).
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		check = func(context.Context) error {
			fmt.Printf("checking pid=%d\n", os.Getpid())
			<-usr1
			return nil
		}
	case "termcheck":
		// A slow check that passes, but only after the process was told
		// to stop: it must not report ready then.
		check = func(context.Context) error {
			fmt.Printf("checking pid=%d\n", os.Getpid())
			<-ctx.Done()
			return nil
		}
	}
	up, err := baseline.New(baseline.Options{Check: check, ReadyTimeout: readyTimeout, Events: printer{}})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	up.OnDrain(baseline.HTTPServer(srv))
	var lns []net.Listener
	var addrs []string
	for _, l := range [][2]string{{"tcp", addr}, {"unix", sock}} {
		if l[1] == "" {
			continue
		}
		ln, err := up.Listen(l[0], l[1])
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	if mode == "hang" {
		<-ctx.Done() // never ready; the old process kills it
		return nil
	}
	// Serve only once ready: a process that fails its check, or is killed
	// for being late, must not have accepted connections from the queue
	// it shares with the old process.
	if err := up.Ready(ctx); err != nil {
		// As an application that shuts its upgrader down on every way
		// out does (the root package's Runtime.Close).
		return errors.Join(err, up.Shutdown(context.Background()))
	}
	for _, ln := range lns {
		go func() { _ = srv.Serve(ln) }()
	}
	fmt.Printf("ready pid=%d version=%s parent=%v addrs=%s\n", os.Getpid(), version, up.HasParent(), strings.Join(addrs, ","))
	select {
	case <-up.Exit():
		// An application slow to come to its Shutdown: it must not
		// accept connections meanwhile.
		time.Sleep(linger)
	case <-ctx.Done():
	}
	return up.Shutdown(context.Background())
}
