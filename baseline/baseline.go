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
	"sync/atomic"
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
	// ErrSecondUpgrader is returned by [New] in a process that made an
	// Upgrader before: the listener hand-off allows one per process, for
	// the life of the process.
	ErrSecondUpgrader = errors.New("baseline: only one Upgrader per process")
	// ErrInDrain is returned by [Upgrader.Shutdown] called from one of its
	// own drain hooks: the shutdown is under way, and waits for that hook.
	ErrInDrain = errors.New("baseline: Shutdown called from a drain hook; the shutdown is under way and ends when the hooks return")
)

// idleGrace is how long HTTPServer's drain leaves a connection idle
// before it closes it, for the client's next request; a variable for the
// tests. newGrace is the same for a connection that has not sent its
// first request.
var (
	idleGrace = time.Second
	newGrace  = 5 * time.Second
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
	// over it is picked up too. A relative Binary is made absolute at
	// [New]. The arguments are always this process's.
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
	Target string // what Binary named, if it is a symbolic link ("" if not)
	Err    error  // why: it could not start, exited, failed its check, timed out
	Stderr string // the last bytes the new process wrote to its standard error
}

func (e *RestartError) Error() string {
	var b strings.Builder
	bin := e.Binary
	if e.Target != "" {
		bin += " (-> " + e.Target + ")"
	}
	fmt.Fprintf(&b, "baseline: restart with %s failed, the old process keeps serving: %v", bin, e.Err)
	if s := strings.TrimRight(e.Stderr, "\n"); s != "" {
		fmt.Fprintf(&b, "\nits standard error ended with:\n%s", s)
	}
	return b.String()
}

func (e *RestartError) Unwrap() error { return e.Err }

// HTTPServer returns a drain hook for srv; call it before srv serves and
// after srv.Handler is set, as it wraps srv.ConnState to follow the
// connections and srv.Handler to answer with "Connection: close" once
// the drain began. The hook closes no connection under a client: a busy
// one closes after its next response, one idle for idleGrace (1 s) is
// closed, and one that has not sent its first request within newGrace
// (5 s, as http.Server.Shutdown) too. Once every connection has closed
// it calls Shutdown, and Close if ctx ends first. It does not call
// Shutdown or SetKeepAlivesEnabled(false) straight away: both close idle
// connections at once, and a client sending its next request on one at
// that instant (wrk, a browser, any client under load) loses it. Shutdown
// also closes, unanswered, a connection whose first request it reads after
// it began: one the listener accepted an instant before.
// [Upgrader.Shutdown] closes the sockets before the hooks run, but the
// Accept calls of its listeners wait for the server's own Close, so Serve
// returns [http.ErrServerClosed], as after a Shutdown of its own.
func HTTPServer(srv *http.Server) func(context.Context) error {
	type conn struct {
		state http.ConnState
		timer *time.Timer // closes the connection if it stays in state; nil if none
	}
	var (
		mu       sync.Mutex // guards open, drained, draining's changes
		open     = make(map[net.Conn]*conn)
		drained  chan struct{} // made when the drain begins; closed once open is empty
		draining atomic.Bool
	)
	// arm closes c if it is still in the state it is in now after d; the
	// caller holds mu.
	arm := func(c net.Conn, ci *conn, d time.Duration) {
		if ci.timer != nil {
			ci.timer.Stop()
		}
		st := ci.state
		ci.timer = time.AfterFunc(d, func() {
			mu.Lock()
			still := open[c] == ci && ci.state == st
			mu.Unlock()
			if still {
				c.Close() // its server goroutine reports it closed
			}
		})
	}
	graceOf := func(st http.ConnState) time.Duration {
		if st == http.StateNew {
			return newGrace
		}
		return idleGrace
	}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		switch st {
		case http.StateNew:
			ci := &conn{state: st}
			open[c] = ci
			if draining.Load() {
				arm(c, ci, graceOf(st))
			}
		case http.StateActive, http.StateIdle:
			if ci := open[c]; ci != nil {
				ci.state = st
				if ci.timer != nil {
					ci.timer.Stop()
					ci.timer = nil
				}
				if st == http.StateIdle && draining.Load() {
					arm(c, ci, graceOf(st))
				}
			}
		case http.StateHijacked, http.StateClosed:
			if ci := open[c]; ci != nil && ci.timer != nil {
				ci.timer.Stop()
			}
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
	inner := srv.Handler
	if inner == nil {
		inner = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			// http.Server closes the connection after this response (an
			// HTTP/2 server sends GOAWAY).
			w.Header().Set("Connection", "close")
		}
		inner.ServeHTTP(w, r)
	})
	return func(ctx context.Context) error {
		mu.Lock()
		drained = make(chan struct{})
		draining.Store(true)
		for c, ci := range open {
			if ci.state == http.StateIdle || ci.state == http.StateNew {
				arm(c, ci, graceOf(ci.state))
			}
		}
		if len(open) == 0 {
			close(drained)
		}
		wait := drained
		mu.Unlock()
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
