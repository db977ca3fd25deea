//go:build linux || darwin

package baseline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/hookframe"
)

// stderrName names the descriptor of the real standard error that every
// process passes to the next; a new process writes its start-up to a pipe
// its parent reads, and takes this one back when it is ready.
const stderrName = "hotpatch-baseline-stderr"

// relayGrace bounds the wait for the last bytes of a failed process's
// standard error: a process that exited has closed it already, but one
// that left children may keep it open.
const relayGrace = 2 * time.Second

// parentGrace is how long a restart waits for the news that the process
// this one replaced has exited before it refuses.
const parentGrace = 500 * time.Millisecond

// Upgrader hands this process's listeners to a new process on a restart.
// There is one per process (tableflip keeps process-wide state).
type Upgrader struct {
	opts   Options // defaults applied; never changed after New
	tf     *tableflip.Upgrader
	binary string          // the executable a restart starts
	stderr *os.File        // this process's standard error at New
	busy   chan struct{}   // holds a token while a restart runs
	stop   chan struct{}   // closed when Shutdown begins
	parent <-chan struct{} // closed when the process this one replaced has exited; nil in a first process
	exit   chan struct{}   // closed when tableflip's Exit is, or at a Shutdown that leaves tableflip be
	leave  chan struct{}   // closed by a Shutdown that does not stop tableflip (see Shutdown)
	wg     sync.WaitGroup  // the signal loop and restart attempts

	mu         sync.Mutex // guards the fields below
	ready      bool
	stopped    bool
	drains     []func(context.Context) error
	listeners  []*listener
	realStderr *os.File // inherited standard error to take back at Ready; nil if none

	shutOnce sync.Once
	shutDone chan struct{} // closed when Shutdown's work is done
	shutErr  error         // written before shutDone is closed
}

// New returns the process's upgrader. In a process started by a restart
// it inherits the old process's listeners. Only one Upgrader may exist
// per process; a second New fails.
func New(opts Options) (*Upgrader, error) {
	opts = opts.withDefaults()
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = startedFrom(); err != nil {
			return nil, fmt.Errorf("baseline: the binary to restart: %w", err)
		}
	} else if abs, err := filepath.Abs(bin); err == nil {
		bin = abs // a restart after a chdir starts this very file
	}
	tf, err := tableflip.New(tableflip.Options{UpgradeTimeout: opts.ReadyTimeout})
	if err != nil {
		if errors.Is(err, tableflip.ErrNotSupported) {
			return nil, ErrNotSupported
		}
		if strings.Contains(err.Error(), "only a single Upgrader") {
			return nil, fmt.Errorf("%w: this process made one already (even if it was shut down since); "+
				"make one per process, at its start, and hand it to what needs it", ErrSecondUpgrader)
		}
		return nil, fmt.Errorf("baseline: %w", err)
	}
	u := &Upgrader{opts: opts, tf: tf, binary: bin, stderr: os.Stderr,
		busy: make(chan struct{}, 1), stop: make(chan struct{}), shutDone: make(chan struct{}),
		exit: make(chan struct{}), leave: make(chan struct{})}
	if tf.HasParent() {
		if u.realStderr, err = tf.File(stderrName); err != nil {
			tf.Stop()
			return nil, fmt.Errorf("baseline: inherited standard error: %w", err)
		}
		parent := make(chan struct{})
		u.parent = parent
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-u.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := tf.WaitForParent(ctx); err == nil || !errors.Is(err, context.Canceled) {
				close(parent)
			}
		}()
	} else if err := tf.AddFile(stderrName, os.Stderr); err != nil {
		tf.Stop()
		return nil, fmt.Errorf("baseline: pass standard error on: %w", err)
	}
	if !opts.NoSignal {
		sig := opts.Signal
		if sig == nil {
			sig = syscall.SIGHUP
		}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, sig)
		u.wg.Add(1)
		go u.signalLoop(ch, sig)
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		select {
		case <-tf.Exit():
		case <-u.leave:
		}
		close(u.exit)
	}()
	return u, nil
}

// startedFrom is the default binary: os.Args[0] made absolute if it is a
// symbolic link (so that a switched link is followed), else the
// executable the kernel started.
func startedFrom() (string, error) {
	if arg0 := os.Args[0]; strings.ContainsRune(arg0, filepath.Separator) {
		if abs, err := filepath.Abs(arg0); err == nil {
			if fi, err := os.Lstat(abs); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				return abs, nil
			}
		}
	}
	return os.Executable()
}

func (u *Upgrader) signalLoop(ch chan os.Signal, sig os.Signal) {
	defer u.wg.Done()
	defer signal.Stop(ch)
	for {
		select {
		case <-u.stop:
			return
		case <-ch:
			u.opts.Logger.Info("baseline: restart requested", "signal", sig.String())
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				// Restart logs and records the outcome; a refusal is
				// logged here, as no caller sees it.
				if err := u.Restart(context.Background()); errors.Is(err, ErrRestartInProgress) || errors.Is(err, ErrNotReady) || errors.Is(err, ErrStopped) {
					u.opts.Logger.Warn("baseline: restart refused", "signal", sig.String(), "err", err)
				}
			}()
		}
	}
}

// Binary returns the path a restart starts.
func (u *Upgrader) Binary() string { return u.binary }

// HasParent reports whether this process was started by a restart, so
// that start-up work (re-applying patches) knows it follows an old
// process.
func (u *Upgrader) HasParent() bool { return u.tf.HasParent() }

// Listen returns the listener for network and address: the one inherited
// from the old process if it passed one under the same two strings, else
// a new one. TCP and unix networks are supported, as many as needed.
// Shutdown closes the listeners it returned that are still open. The
// listener is a wrapper (not a *net.TCPListener) that lets Shutdown know
// when the accept loop has registered every connection it accepted. Once
// its socket is closed by the hand-over or Shutdown, its Accept waits
// until the server closes the listener itself (http.Server.Shutdown and
// grpc.Server.GracefulStop do) or the drain hooks have returned, and then
// fails with an error wrapping [net.ErrClosed]: http.Server.Serve returns
// [http.ErrServerClosed] and grpc.Server.Serve nil, as after their own
// graceful stops, so a server that treats any other error of Serve as
// fatal does not end in the middle of its drain. A listener that two
// servers serve is closed for both by the first one's graceful stop: the
// other's Serve then returns the error wrapping [net.ErrClosed] before its
// own stop began; give each server a listener of its own (another
// address), or serve it with one server that routes.
func (u *Upgrader) Listen(network, addr string) (net.Listener, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return nil, ErrStopped
	}
	ln, err := u.tf.Listen(network, addr)
	if err != nil {
		return nil, listenError(network, addr, err)
	}
	l := newListener(ln)
	u.listeners = append(u.listeners, l)
	return l, nil
}

// listenError says why a Listen failed, naming the address once: the
// system's error names it already, and tableflip's wrapping of it would
// say it twice.
func listenError(network, addr string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op
	} else {
		err = fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("baseline: %w (another process serves there: stop it or choose another address)", err)
	}
	return fmt.Errorf("baseline: %w", err)
}

// OnDrain adds hooks that [Upgrader.Shutdown] runs, concurrently, to stop
// accepting and let requests in flight finish: [HTTPServer] for an
// *http.Server, [Graceful] for a gRPC server.
func (u *Upgrader) OnDrain(fns ...func(context.Context) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.drains = append(u.drains, fns...)
}

// Ready runs the readiness check ([Options.Check]) and reports this
// process ready: in a process started by a restart, the old one then
// drains and exits. Call it once every listener is obtained and the
// start-up work is done, and serve the listeners after it returns: a
// process that fails its check has then accepted nothing from the queue
// it shares with the old process. A failed check is returned, and so is
// ctx's error if ctx ended (the process was told to stop during its
// start-up): the process should then exit, which fails the restart with
// its standard error and leaves the old process serving.
func (u *Upgrader) Ready(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.stopped:
		return ErrStopped
	case u.ready:
		return nil
	}
	if u.opts.Check != nil {
		cctx, cancel := context.WithTimeout(ctx, u.opts.ReadyTimeout)
		err := u.opts.Check(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("baseline: readiness check failed: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		// Told to stop (SIGTERM to a new process in its start-up): a
		// report now would have the old process drain while this one
		// stops, and nothing would serve.
		return fmt.Errorf("baseline: not reported ready: %w", err)
	}
	if u.realStderr != nil {
		// From here on this process writes where the first one did; the
		// pipe its parent reads goes away with the parent.
		err := unix.Dup2(int(u.realStderr.Fd()), 2)
		u.realStderr.Close()
		u.realStderr = nil
		if err != nil {
			return fmt.Errorf("baseline: take standard error back: %w", err)
		}
	}
	note := fmt.Sprintf("pid %d (%s) is ready and takes over from the old process", os.Getpid(), u.binary)
	if err := u.tf.Ready(); err != nil {
		if !u.parentGone() {
			return fmt.Errorf("baseline: report ready: %w", err)
		}
		// The old process died during the start-up (kill -9, a crash):
		// nobody reads the report, and this process, which holds the
		// listeners and passed its check, is the only one that can serve.
		note = fmt.Sprintf("pid %d (%s) is ready and serves alone: the old process exited before it could be told (%v)", os.Getpid(), u.binary, err)
		u.opts.Logger.Warn("baseline: the old process exited during the restart; serving alone", "err", err)
	}
	u.ready = true
	if u.tf.HasParent() {
		u.record(hotswap.Event{Type: EventTookOver, Note: note})
	}
	return nil
}

// parentGone reports whether the process this one replaced has exited;
// the news travels through a pipe, so it waits up to parentGrace for it.
func (u *Upgrader) parentGone() bool {
	if u.parent == nil {
		return false
	}
	t := time.NewTimer(parentGrace)
	defer t.Stop()
	select {
	case <-u.parent:
		return true
	case <-t.C:
		return false
	}
}

// Exit returns a channel closed when this process has handed over to a
// new one (or Shutdown began): call [Upgrader.Shutdown] then, and exit.
func (u *Upgrader) Exit() <-chan struct{} { return u.exit }

// Restart starts the binary with this process's arguments, passes it the
// listeners and waits until it is ready. On success this process has
// stopped accepting (every new connection goes to the new process; the
// Accept calls of its listeners wait for the server's own Close or the
// end of Shutdown's drain hooks, so that accept loops do not end early),
// [Upgrader.Exit] is closed, and the caller's process should shut down.
// On failure this process keeps serving and the error is a
// [*RestartError] with the tail of the new process's standard error. A
// restart while another runs, or while the process this one replaced
// still drains, is refused with [ErrRestartInProgress]. If ctx ends first
// Restart returns its error, and the attempt goes on, bounded by
// [Options.ReadyTimeout]; its outcome is logged and recorded.
func (u *Upgrader) Restart(ctx context.Context) error {
	select {
	case u.busy <- struct{}{}:
	default:
		return ErrRestartInProgress
	}
	if err := u.refusal(); err != nil {
		<-u.busy
		return err
	}
	res := make(chan error, 1)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		// Free the step before the caller learns the outcome, so that a
		// trigger right after a failed attempt is not refused as one in
		// progress.
		var err error
		func() {
			defer func() { <-u.busy }()
			err = u.attempt()
		}()
		res <- err
	}()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("baseline: restart: %w (the attempt goes on; its outcome is logged and recorded)", ctx.Err())
	}
}

// refusal says why no restart may start now, if so.
func (u *Upgrader) refusal() error {
	u.mu.Lock()
	ready, stopped := u.ready, u.stopped
	u.mu.Unlock()
	switch {
	case stopped:
		return ErrStopped
	case !ready:
		return ErrNotReady
	}
	select {
	case <-u.tf.Exit():
		return fmt.Errorf("%w: this process has handed over", ErrStopped)
	default:
	}
	if u.parent != nil {
		// The old process's exit reaches this one through a pipe: a
		// trigger an instant after it may get here first.
		t := time.NewTimer(parentGrace)
		defer t.Stop()
		select {
		case <-u.parent:
		case <-t.C:
			return fmt.Errorf("%w: the process this one replaced is still draining", ErrRestartInProgress)
		}
	}
	return nil
}

// attempt runs one restart; the caller holds busy.
func (u *Upgrader) attempt() error {
	start := time.Now()
	bin := u.binary
	log := u.opts.Logger
	if err := checkBinary(bin); err != nil {
		return u.failed(&RestartError{Binary: bin, Err: err})
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return u.failed(&RestartError{Binary: bin, Err: fmt.Errorf("stderr pipe: %w", err)})
	}
	tl := &tail{max: u.opts.StderrTail}
	relayed := make(chan struct{})
	go func() { // ends at EOF, when the new process and this one closed pw
		defer close(relayed)
		defer pr.Close()
		_, _ = io.Copy(passThrough{u.stderr, tl}, pr)
	}()

	// tableflip starts os.Args[0] with os.Stderr as its standard error:
	// point them at the binary and the relay while it does.
	arg0, stderr := os.Args[0], os.Stderr
	os.Args[0], os.Stderr = bin, pw
	for range 100 {
		// tableflip's loop may not have taken the parent's exit, which
		// refusal saw, before this request: it then refuses it, and
		// takes the exit before the next one.
		if err = u.tf.Upgrade(); err == nil || err.Error() != "parent hasn't exited" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	os.Args[0], os.Stderr = arg0, stderr
	pw.Close()

	if err == nil {
		// The new process serves on the sockets: this one stops
		// accepting now, not when its application gets to Shutdown.
		u.mu.Lock()
		listeners := u.listeners
		u.mu.Unlock()
		for _, ln := range listeners {
			_ = ln.stop()
		}
		note := fmt.Sprintf("pid %d handed over to a new process of %s after %s", os.Getpid(), bin, time.Since(start).Round(time.Millisecond))
		log.Info("baseline: restarted; draining", "binary", bin, "took", time.Since(start))
		u.record(hotswap.Event{Type: EventStep, Note: note})
		return nil
	}
	switch msg := err.Error(); {
	case msg == "parent hasn't exited" || msg == "upgrade in progress":
		return fmt.Errorf("%w: %v", ErrRestartInProgress, err)
	case msg == "process is not ready yet":
		return ErrNotReady
	case msg == "terminating" || msg == "already upgraded":
		return fmt.Errorf("%w: %v", ErrStopped, err)
	case strings.HasSuffix(msg, "timed out"):
		err = fmt.Errorf("%w: not ready within %s, killed", err, u.opts.ReadyTimeout)
	case strings.HasPrefix(msg, "child pid=") && strings.Contains(msg, " exited"):
		if strings.Contains(msg, "exit status") || strings.Contains(msg, "signal") {
			err = fmt.Errorf("%w before it reported ready", err)
		} else {
			// Status 0 and nothing reported: not a server of this kind.
			err = fmt.Errorf("%w (status 0) before it reported ready: is it a program that takes its listeners from package baseline and calls Ready?", err)
		}
	}
	select {
	case <-relayed:
	case <-time.After(relayGrace):
	}
	return u.failed(&RestartError{Binary: bin, Err: err, Stderr: tl.String()})
}

func (u *Upgrader) failed(e *RestartError) error {
	if t, err := os.Readlink(e.Binary); err == nil {
		e.Target = t
	}
	u.opts.Logger.Error("baseline: restart failed; still serving", "binary", e.Binary, "target", e.Target, "err", e.Err, "stderr", e.Stderr)
	u.record(hotswap.Event{Type: EventFailed, Err: e})
	return e
}

func (u *Upgrader) record(e hotswap.Event) {
	if u.opts.Events == nil {
		return
	}
	e.Time = time.Now()
	if err := u.opts.Events.Record(e); err != nil {
		u.opts.Logger.Warn("baseline: record event", "type", string(e.Type), "err", err)
	}
}

// checkBinary refuses, with a reason, what the kernel would refuse to run.
func checkBinary(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %v: removed or renamed since this process started? (go run removes its binary once the first process exits): build to a lasting path, e.g. hotpatch build -versioned -o DIR/NAME, and start DIR/NAME", ErrBinary, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBinary, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrBinary, path, fi.Mode().Type())
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("%w: %s is not executable (mode %s): %v; chmod +x it or install an executable there", ErrBinary, path, fi.Mode().Perm(), err)
	}
	return nil
}

// passThrough writes to out, ignoring its errors, and to keep.
type passThrough struct {
	out  io.Writer
	keep io.Writer
}

func (p passThrough) Write(b []byte) (int, error) {
	_, _ = p.out.Write(b)
	return p.keep.Write(b)
}

// runDrainHook runs one drain hook. It must not be inlined: its frame is
// what InDrainHook looks for.
//
//go:noinline
func runDrainHook(ctx context.Context, d func(context.Context) error) error { return d(ctx) }

// drainHookEntry is the entry address of runDrainHook.
var drainHookEntry = hookframe.Entry(runDrainHook)

// InDrainHook reports whether the calling goroutine runs one of the drain
// hooks of [Upgrader.Shutdown] (a goroutine the hook started does not
// count). A teardown that the hooks may call, and that waits for
// Shutdown, uses it to start its work without waiting: Shutdown waits for
// the hook, which would wait for Shutdown.
func InDrainHook() bool { return hookframe.OnStack(drainHookEntry) }

// Shutdown stops restarts and the signal watch, closes the sockets of the
// listeners [Upgrader.Listen] returned (new connections go to the new
// process, or are refused after a plain shutdown), then runs the drain
// hooks, within [Options.DrainTimeout] or until ctx ends; the Accept
// calls of the listeners fail when the server closes its listener (its
// graceful stop, in a hook) or, at the latest, when the hooks have
// returned. A drain hook for a server of the application's own must not
// wait for its accept loop to end unless it closes the listener first.
// A restart in progress is abandoned and its process killed. Without a
// restart before it, unix sockets are removed, except in a process a
// restart started that never reported ready: the old process still
// serves on them. Shutdown is safe to call more than once; later calls
// wait for the first. Called from a drain hook (which the first call
// waits for), it returns [ErrInDrain] at once.
func (u *Upgrader) Shutdown(ctx context.Context) error {
	if InDrainHook() {
		return ErrInDrain
	}
	u.shutOnce.Do(func() {
		u.mu.Lock()
		u.stopped = true
		drains := u.drains
		listeners := u.listeners
		tookOver := u.ready || !u.tf.HasParent()
		u.mu.Unlock()
		close(u.stop)
		if tookOver {
			u.tf.Stop()
			// tableflip removes the unix sockets of a plain stop, and
			// kills a new process still starting, on its own goroutine,
			// which closes Exit when done: wait for it, or the process
			// may exit first.
			<-u.tf.Exit()
		} else {
			// A process a restart started that never reported ready (its
			// check failed, it was told to stop): its sockets serve in
			// the old process, which goes on. tableflip's Stop would
			// remove the file of every unix socket this process took, and
			// nobody could connect to the old process there any more.
			// tableflip is left be: this process exits, which the old
			// one's restart takes for the failure it is.
			close(u.leave)
		}

		// Stop accepting first: the drain hooks wait for the connections
		// already accepted, a count that new ones would keep up.
		dctx, cancel := context.WithTimeout(ctx, u.opts.DrainTimeout)
		errs := stopAccepting(dctx, listeners)
		derrs := make([]error, len(drains))
		var wg sync.WaitGroup
		for i, d := range drains {
			wg.Add(1)
			go func() {
				defer wg.Done()
				derrs[i] = runDrainHook(dctx, d)
			}()
		}
		wg.Wait()
		cancel()
		for _, ln := range listeners {
			ln.release() // the accept loops that still wait end now
		}
		errs = append(errs, derrs...)
		u.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			u.shutErr = fmt.Errorf("baseline: drain: %w", err)
		}
		close(u.shutDone)
	})
	<-u.shutDone
	return u.shutErr
}
