package baseline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

var (
	// ErrNotSupported is returned by [New] where the platform cannot hand
	// listeners to a new process (anything but Linux and macOS).
	ErrNotSupported = errors.New("baseline: graceful restart is not supported on this platform")
	// ErrRestartInProgress is returned by [Upgrader.Restart] while another
	// restart runs, including while the process it replaced still drains.
	// The trigger is refused, not queued: try again once it is over.
	ErrRestartInProgress = errors.New("baseline: a restart is already in progress")
	// ErrNotReady is returned by [Upgrader.Restart] before [Upgrader.Ready]:
	// a process that is not ready itself cannot hand over.
	ErrNotReady = errors.New("baseline: this process is not ready yet")
	// ErrStopped is returned once the process has handed over to a new one
	// or [Upgrader.Shutdown] has begun.
	ErrStopped = errors.New("baseline: stopped")
	// ErrBinary is wrapped by the errors about the binary to start: missing,
	// not a regular file, not executable.
	ErrBinary = errors.New("baseline: unusable binary")
)

// Defaults for the zero fields of [Options].
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultStderrTail   = 4 << 10
)

// The events an [Upgrader] records through [Options.Events].
const (
	// EventStep: a new process became ready and this one hands over to it.
	// Note names the binary and both process IDs.
	EventStep hotswap.EventType = "baseline-step"
	// EventFailed: a restart failed and this process keeps serving. Err is
	// a [*RestartError].
	EventFailed hotswap.EventType = "baseline-failed"
	// EventTookOver: this process, started by a restart, became ready and
	// the old one drains. Recorded by the new process, whose history
	// outlives the old one's.
	EventTookOver hotswap.EventType = "baseline-took-over"
)

// Recorder is where an [Upgrader] reports its events; a
// [*hotswap.Manager] is one.
type Recorder interface {
	Record(hotswap.Event) error
}

// Options configure an [Upgrader]. A zero field means its default.
type Options struct {
	// Binary is the executable a restart starts. "" means the path this
	// process was started from, read at [New]: os.Args[0] made absolute
	// when it names a symbolic link (the link is followed anew at each
	// restart, so switching it selects the next baseline), otherwise
	// os.Executable. The path is opened at each restart, so a file renamed
	// over it is picked up too. The arguments are always this process's.
	Binary string
	// Check is the readiness check the new process runs in
	// [Upgrader.Ready] before it reports ready; the restart fails if it
	// returns an error. nil means ready once Ready is called. A check must
	// reach the process it runs in: an HTTP request to the shared listener
	// may be answered by the old process (see [CheckHandler]).
	Check func(ctx context.Context) error
	// ReadyTimeout bounds a restart, from the start of the new process to
	// its report of readiness; past it the new process is killed. Zero
	// means [DefaultReadyTimeout].
	ReadyTimeout time.Duration
	// DrainTimeout bounds [Upgrader.Shutdown]'s drain hooks. Zero means
	// [DefaultDrainTimeout].
	DrainTimeout time.Duration
	// Signal triggers a restart. nil means SIGHUP; NoSignal turns it off.
	Signal   os.Signal
	NoSignal bool
	// Events receives [EventStep], [EventFailed] and [EventTookOver]; nil
	// records nothing.
	Events Recorder
	// Logger receives a record of each restart. nil discards.
	Logger *slog.Logger
	// StderrTail is how many bytes of the new process's standard error a
	// failed restart reports. Zero means [DefaultStderrTail].
	StderrTail int
}

func (o Options) withDefaults() Options {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.StderrTail <= 0 {
		o.StderrTail = DefaultStderrTail
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// RestartError is the error of a failed restart: this process keeps
// serving.
type RestartError struct {
	Binary string // the executable that was started, or meant to be
	Err    error  // why: it could not start, exited, failed its check, timed out
	Stderr string // the last bytes the new process wrote to its standard error
}

func (e *RestartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "baseline: restart with %s failed, the old process keeps serving: %v", e.Binary, e.Err)
	if s := strings.TrimRight(e.Stderr, "\n"); s != "" {
		fmt.Fprintf(&b, "\nits standard error ended with:\n%s", s)
	}
	return b.String()
}

func (e *RestartError) Unwrap() error { return e.Err }

// HTTPServer returns a drain hook for srv; call it before srv serves, as
// it wraps srv.ConnState to follow the connections. The hook turns
// keep-alives off (idle connections close, busy ones close after their
// response), waits until every connection has closed, then calls Shutdown
// for what remains, and Close if ctx ends first. It does not call Shutdown
// straight away because a server shutting down closes, unanswered, a
// connection whose first request it reads after Shutdown began: one the
// listener accepted an instant before. [Upgrader.Shutdown] closes the
// listeners before the hooks run, so Serve returns an error wrapping
// [net.ErrClosed] rather than [http.ErrServerClosed].
func HTTPServer(srv *http.Server) func(context.Context) error {
	var (
		mu      sync.Mutex // guards open, drained
		open    = make(map[net.Conn]struct{})
		drained chan struct{} // made when the drain begins; closed once open is empty
	)
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		switch st {
		case http.StateNew:
			open[c] = struct{}{}
		case http.StateHijacked, http.StateClosed:
			delete(open, c)
			if drained != nil && len(open) == 0 {
				select {
				case <-drained:
				default:
					close(drained)
				}
			}
		}
		mu.Unlock()
		if prev != nil {
			prev(c, st)
		}
	}
	return func(ctx context.Context) error {
		mu.Lock()
		drained = make(chan struct{})
		if len(open) == 0 {
			close(drained)
		}
		wait := drained
		mu.Unlock()
		srv.SetKeepAlivesEnabled(false)
		select {
		case <-wait:
		case <-ctx.Done():
		}
		err := srv.Shutdown(ctx)
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		if err != nil {
			err = errors.Join(err, srv.Close())
		}
		return err
	}
}

// Graceful returns a drain hook for a server whose graceful stop takes no
// context: it runs stop and, if ctx ends first, force, then waits for stop
// to return. For a gRPC server:
//
//	up.OnDrain(baseline.Graceful(s.GracefulStop, s.Stop))
func Graceful(stop, force func()) func(context.Context) error {
	return func(ctx context.Context) error {
		done := make(chan struct{})
		go func() {
			defer close(done)
			stop()
		}()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			force()
			<-done
			return fmt.Errorf("baseline: drain forced: %w", ctx.Err())
		}
	}
}

// CheckHandler returns a readiness check that serves a GET of target
// (a path with its query) through h in process and wants a 2xx status.
// It exercises the new process's own handler, which a request to the
// shared listener cannot guarantee.
func CheckHandler(h http.Handler, target string) func(context.Context) error {
	return func(ctx context.Context) error {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			return fmt.Errorf("baseline: readiness check GET %s: status %d: %.200s", target, rec.Code, rec.Body.String())
		}
		return nil
	}
}
