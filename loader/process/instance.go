package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/control"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// instance is one running plugin process.
type instance struct {
	v      *version
	client *plugin.Client
	stderr *stderrSink

	runMu sync.Mutex  // guards run and abort until start has returned
	run   *procRunner // set by runnerFunc
	abort bool        // start's context ended: do not start, or kill at once

	hello control.HelloReply       // hotpatch plugins
	conns []*callchan.Conn         // hotpatch plugins: the call channel
	rr    atomic.Uint32            // round robin over conns
	impls map[string]reflect.Value // custom plugins: the dispensed implementations

	inflight atomic.Int64
	draining atomic.Bool   // replaced or retired: no new calls
	idle     chan struct{} // signaled when draining and inflight reaches zero

	panicMu sync.Mutex // guards panicVal
	panicV  error      // the first panic of a call, the reason to replace it

	logs *logLimiter // rate limit of everything the plugin logs

	stopOnce sync.Once
}

// start brings up a process for v: start, handshake, health check, slot
// report, call channel. On failure nothing is left running and the error is
// a *StartError with the process's stderr.
func (l *Loader) start(ctx context.Context, v *version) (*instance, error) {
	if !l.beginStart() {
		return nil, &StartError{Path: v.source, Err: ErrClosed}
	}
	defer l.starts.Done()
	// Close ends a start in progress (its process is killed below, as for
	// a deadline) and waits for it.
	ctx, cancelClosed := context.WithCancelCause(ctx)
	defer cancelClosed(nil)
	go func(ctx context.Context) {
		select {
		case <-l.done:
			cancelClosed(ErrClosed)
		case <-ctx.Done():
		}
	}(ctx)
	ctx, cancel := context.WithTimeout(ctx, l.opts.StartTimeout)
	defer cancel()
	in := &instance{v: v, idle: make(chan struct{}, 1)}
	in.logs = newLogLimiter(v.log, l.opts.LogLimit, time.Now)
	in.stderr = newStderrSink(in.logs, "stderr")
	dir, err := l.socketDir()
	if err != nil {
		return nil, &StartError{Path: v.source, Err: err}
	}

	plugins := plugin.PluginSet{control.PluginName: &control.GRPCPlugin{}}
	protocols := []plugin.Protocol{plugin.ProtocolGRPC}
	handshake := control.HandshakeConfig()
	if c := l.custom; c != nil {
		plugins, handshake = c.Plugins, c.Handshake
		protocols = c.Protocols
		if len(protocols) == 0 {
			protocols = []plugin.Protocol{plugin.ProtocolGRPC, plugin.ProtocolNetRPC}
		}
	}
	in.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugins,
		RunnerFunc:       in.runnerFunc,
		StartTimeout:     l.opts.StartTimeout,
		Stderr:           in.stderr,
		SyncStdout:       newStderrSink(in.logs, "stdout"),
		SyncStderr:       newStderrSink(in.logs, "stderr"),
		AllowedProtocols: protocols,
		Logger:           &hclogAdapter{log: v.log, logs: in.logs},
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: dir},
	})
	// go-plugin's handshake wait does not watch ctx: end it by killing the
	// process when ctx ends first.
	stopWatch := context.AfterFunc(ctx, func() {
		in.runMu.Lock()
		in.abort = true
		r := in.run
		in.runMu.Unlock()
		if r != nil {
			_ = r.Kill(context.Background())
		}
	})
	err = in.connect(ctx)
	stopWatch()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		var he *handshakeError
		isHandshake := errors.As(err, &he)
		// What the plugin said at handshake, and whether it exited by
		// itself, before stop kills it.
		reattach := in.client.ReattachConfig()
		r := in.runner()
		exitedFirst := false
		if r != nil && r.ID() != "" && !isHandshake {
			// A plugin that exits right after its handshake line fails the
			// dial as it dies: give its exit a moment to be seen.
			t := time.NewTimer(exitGlimpse)
			select {
			case <-r.exited:
				exitedFirst = !r.wasForced() // not killed by the host for its deadline
			case <-t.C:
			}
			t.Stop()
		}
		in.stop()
		if isHandshake {
			err = in.diagnose(he)
		} else if reattach != nil && reattach.Addr != nil {
			err = fmt.Errorf("after the handshake (the plugin said it serves %s on %s %s): %w",
				reattach.Protocol, reattach.Addr.Network(), reattach.Addr, err)
		}
		if cause := context.Cause(ctx); errors.Is(cause, ErrClosed) {
			err = fmt.Errorf("%w while the plugin was starting (%w)", ErrClosed, err)
		} else if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if reattach != nil {
				err = fmt.Errorf("not ready within %v: %w", l.opts.StartTimeout, err)
			} else {
				err = fmt.Errorf("no handshake within %v: %w", l.opts.StartTimeout, err)
			}
		}
		if exitedFirst && !isHandshake {
			err = fmt.Errorf("%w (the process had exited: %s)", err, exitStatus(r.exitErr()))
		}
		return nil, &StartError{Path: v.source, Err: err, Stderr: in.stderr.Tail()}
	}
	return in, nil
}

// stopTimeout bounds go-plugin's graceful stop of a plugin: its quit
// request and its own two seconds of grace, after which it kills the
// process itself.
const stopTimeout = 3 * time.Second

// exitGlimpse is how long a failed start waits for the plugin's exit to
// be seen before stopping it, to say whether it had exited by itself.
const exitGlimpse = 250 * time.Millisecond

// handshakeError is go-plugin's error from starting the process and
// reading its handshake line, which says little ("Unrecognized remote
// plugin message"); diagnose says what happened.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// diagnose explains a failed handshake from what the host saw: whether the
// process exited on its own and with what status, and what it printed on
// standard output instead of a handshake line. It runs after stop, so the
// process is gone and its streams are read.
func (in *instance) diagnose(he *handshakeError) error {
	r := in.runner()
	if r == nil || r.ID() == "" {
		if errors.Is(he.err, fs.ErrPermission) {
			return fmt.Errorf("%w: the private copy %s cannot be executed; if its file system is mounted noexec, set TMPDIR to a directory that allows executables",
				he.err, in.v.exe)
		}
		return he.err // it did not start: exec's own error says why
	}
	line, _, _ := strings.Cut(r.stdout.head(), "\n")
	line = strings.TrimSpace(line)
	if strings.Count(line, "|") >= 3 {
		return he.err // a handshake line that go-plugin refused: its error says why
	}
	var printed string
	if line == "" {
		printed = "without printing a handshake line on standard output"
	} else {
		printed = fmt.Sprintf("after printing %q on standard output instead of a handshake line", line)
	}
	notPlugin := "it is not a plugin built for this host (process.Serve, or go-plugin with the loader's handshake), or it failed at start (see its stderr)"
	if strings.Contains(in.stderr.Tail(), "This binary is a plugin") { // go-plugin's words for another magic cookie
		notPlugin = "it is a go-plugin plugin, but its magic cookie is not the loader's: it was built for another host or handshake"
	}
	var ee *exec.ExitError
	killed := errors.As(r.exitErr(), &ee) && ee.ProcessState != nil && isKilled(ee.ProcessState) && r.wasForced()
	switch {
	case !killed:
		return fmt.Errorf("the process exited (%s) before the handshake, %s: %s",
			exitStatus(r.exitErr()), printed, notPlugin)
	case line != "":
		return fmt.Errorf("the process printed %q on standard output instead of a handshake line: %s", line, notPlugin)
	case r.stdoutEndedFirst():
		return fmt.Errorf("the process closed its standard output without printing a handshake line, and was stopped: %s", notPlugin)
	default:
		return errors.New("the process printed nothing on standard output before it was stopped")
	}
}

// runnerFunc is go-plugin's RunnerFunc: it builds the exec.Cmd.
func (in *instance) runnerFunc(_ hclog.Logger, tmpl *exec.Cmd, tmpDir string) (runner.Runner, error) {
	cmd := exec.Command(in.v.exe)
	cmd.Env = append(tmpl.Env,
		control.EnvCallSocket+"="+filepath.Join(tmpDir, "call.sock"),
		control.EnvParentPID+"="+strconv.Itoa(os.Getpid()),
	)
	r, err := newProcRunner(cmd, in.v.l.spawn, sysAttr{cleans: in.v.l.custom == nil})
	if err != nil {
		return nil, err
	}
	in.runMu.Lock()
	defer in.runMu.Unlock()
	if in.abort {
		r.closeAll()
		return nil, context.Canceled
	}
	in.run = r
	return r, nil
}

func (in *instance) runner() *procRunner {
	in.runMu.Lock()
	defer in.runMu.Unlock()
	return in.run
}

func (in *instance) pid() string {
	if r := in.runner(); r != nil {
		return r.ID()
	}
	return ""
}

// connect runs the handshake and everything after it.
func (in *instance) connect(ctx context.Context) error {
	if _, err := in.client.Start(); err != nil { // start + handshake line
		return &handshakeError{err}
	}
	rpc, err := in.client.Client() // dial
	if err != nil {
		return err
	}
	if gc, ok := rpc.(*plugin.GRPCClient); ok {
		resp, err := grpc_health_v1.NewHealthClient(gc.Conn).Check(ctx,
			&grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
		if err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		if st := resp.GetStatus(); st != grpc_health_v1.HealthCheckResponse_SERVING {
			return fmt.Errorf("health check: %w: the plugin reports %v", ErrStart, st)
		}
	} else if err := rpc.Ping(); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if c := in.v.l.custom; c != nil {
		return in.connectCustom(rpc, in.client.Protocol(), c)
	}
	raw, err := rpc.Dispense(control.PluginName)
	if err != nil {
		return err
	}
	ctl, ok := raw.(*control.Client)
	if !ok {
		return fmt.Errorf("%w: dispensed %T", ErrProtocol, raw)
	}
	in.hello, err = ctl.Hello(ctx, control.HelloRequest{Version: callchan.Version})
	if err != nil {
		return err
	}
	if in.hello.Version != callchan.Version {
		return fmt.Errorf("%w: plugin speaks call channel version %d, host %d", ErrProtocol, in.hello.Version, callchan.Version)
	}
	var d net.Dialer
	for range in.v.l.opts.Conns {
		c, err := d.DialContext(ctx, "unix", in.hello.Socket)
		if err != nil {
			return fmt.Errorf("call channel: %w", err)
		}
		in.conns = append(in.conns, callchan.NewConnMem(c, in.v.l.mem))
	}
	return nil
}

// conn picks a call channel connection.
func (in *instance) conn() *callchan.Conn {
	if len(in.conns) == 1 {
		return in.conns[0]
	}
	return in.conns[in.rr.Add(1)%uint32(len(in.conns))]
}

// release ends a call counted by version.acquire.
func (in *instance) release() {
	if in.inflight.Add(-1) == 0 && in.draining.Load() {
		select {
		case in.idle <- struct{}{}:
		default:
		}
	}
}

// drain stops new calls, waits until the calls in flight are done (or
// grace or ctx ends, or the process exits), stops the process and returns
// the number of calls it cut short.
func (in *instance) drain(ctx context.Context, grace time.Duration) int64 {
	in.draining.Store(true)
	if in.inflight.Load() > 0 {
		t := time.NewTimer(grace)
	wait:
		for in.inflight.Load() > 0 {
			select {
			case <-in.idle:
			case <-t.C:
				break wait
			case <-ctx.Done():
				break wait
			case <-in.run.exited:
				break wait
			}
		}
		t.Stop()
	}
	left := in.inflight.Load()
	in.stop()
	return left
}

// stop ends the process: go-plugin asks it to shut down, waits up to two
// seconds, then kills it; a plugin that does not even answer the request
// is killed after stopTimeout. Whatever happens, its process group is killed
// once it has exited (see procRunner). Calls still in flight fail with
// ErrUnavailable. It waits for go-plugin's goroutines and is safe to call
// more than once.
func (in *instance) stop() { in.stopWith(ErrUnavailable) }

// stopWith is stop with the error that calls in flight fail with.
func (in *instance) stopWith(err error) {
	in.stopOnce.Do(func() {
		r := in.runner()
		alive := false
		if r != nil {
			select {
			case <-r.exited:
			default:
				alive = true
			}
		}
		for _, cc := range in.conns {
			cc.Close(err)
		}
		// go-plugin's Kill asks the plugin to quit with a request that has
		// no deadline, and only then gives it two seconds: a plugin that
		// is frozen (SIGSTOP) or does not answer would hold it forever.
		// Past stopTimeout the process is killed, which ends the request.
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			in.client.Kill()
		}()
		t := time.NewTimer(stopTimeout)
		select {
		case <-killed:
		case <-t.C:
			if r != nil {
				_ = r.Kill(context.Background())
			}
			<-killed
		}
		t.Stop()
		if r != nil {
			_ = r.Kill(context.Background())
			<-r.done
		}
		in.stderr.Flush()
		in.logs.flush()
		if alive && r.ID() != "" {
			if r.wasForced() {
				in.v.log.Info("process: plugin stopped; killed, as it did not exit when asked", "pid", r.ID())
			} else {
				in.v.log.Debug("process: plugin stopped", "pid", r.ID())
			}
		}
	})
}

// notePanic records a panic in a call and asks the supervisor to replace
// the process.
func (in *instance) notePanic(err error) {
	in.panicMu.Lock()
	if in.panicV == nil {
		in.panicV = err
	}
	in.panicMu.Unlock()
	in.v.askReplace(in)
}

func (in *instance) panicErr() error {
	in.panicMu.Lock()
	defer in.panicMu.Unlock()
	if in.panicV == nil {
		return &hotswap.PanicError{Value: "unknown"}
	}
	return in.panicV
}
