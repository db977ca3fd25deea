//go:build linux || darwin

package baseline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// A server that restarts gracefully on SIGHUP: listeners from the
// upgrader, Ready once started, Shutdown when a new process took over or
// the server stops.
func Example() {
	ctx := context.Background()
	up, err := baseline.New(baseline.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := up.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	up.OnDrain(baseline.HTTPServer(srv)) // before Serve: it follows the connections

	// A restart before this process is ready is refused.
	fmt.Println("restart before ready:", errors.Is(up.Restart(ctx), baseline.ErrNotReady))

	// Start-up work (patches) goes here, then Ready, then serve.
	if err := up.Ready(ctx); err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("started by a restart:", up.HasParent())

	// In a real server: wait for <-up.Exit() or a stop signal.
	fmt.Println("shutdown:", up.Shutdown(ctx))
	fmt.Println("restart after shutdown:", errors.Is(up.Restart(ctx), baseline.ErrStopped))
	// Output:
	// restart before ready: true
	// started by a restart: false
	// shutdown: <nil>
	// restart after shutdown: true
}
