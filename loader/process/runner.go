package process

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner runs a plugin executable for go-plugin (ClientConfig.RunnerFunc)
// so that the host owns the exec.Cmd: the child gets a parent-death signal
// and its own process group (see sysProcAttr), its standard streams are
// plain pipes that outlive cmd.Wait (so no line of a dying plugin's stderr is
// lost), and the host learns of its exit at once through exited.
type procRunner struct {
	cmd   *exec.Cmd
	spawn func(start func() error) error // runs cmd.Start on the loader's spawner thread

	stdoutR, stderrR *os.File // read ends, closed by Wait
	stdoutW, stderrW *os.File // write ends, closed after Start

	mu      sync.Mutex // guards pid, killed, waitErr
	pid     int
	killed  bool // Kill was called: a process started after it is killed at once
	waitErr error

	exited    chan struct{} // closed when the process has exited and been reaped
	closeOnce sync.Once
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(cmd *exec.Cmd, spawn func(func() error) error) (*procRunner, error) {
	r := &procRunner{cmd: cmd, spawn: spawn, exited: make(chan struct{})}
	var err error
	if r.stdoutR, r.stdoutW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if r.stderrR, r.stderrW, err = os.Pipe(); err != nil {
		r.stdoutR.Close()
		r.stdoutW.Close()
		return nil, err
	}
	cmd.Stdin = nil // the plugin reads nothing of the host's
	cmd.Stdout = r.stdoutW
	cmd.Stderr = r.stderrW
	cmd.SysProcAttr = sysProcAttr()
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	err := r.spawn(r.cmd.Start)
	r.stdoutW.Close()
	r.stderrW.Close()
	if err != nil {
		r.closeReaders()
		close(r.exited)
		return err
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	killed := r.killed
	r.mu.Unlock()
	if killed {
		killGroup(r.pid)
		_ = r.cmd.Process.Kill()
	}
	go func() { // ends when the process does; Kill makes sure it does
		err := r.cmd.Wait()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(r.exited)
	}()
	return nil
}

// Wait is called by go-plugin once it has read both streams to the end.
func (r *procRunner) Wait(context.Context) error {
	<-r.exited
	r.closeReaders()
	return r.exitErr()
}

// closeAll releases the pipes of a runner that will not start.
func (r *procRunner) closeAll() {
	r.stdoutW.Close()
	r.stderrW.Close()
	r.closeReaders()
}

func (r *procRunner) closeReaders() {
	r.closeOnce.Do(func() {
		r.stdoutR.Close()
		r.stderrR.Close()
	})
}

// exitErr returns the process's exit status as an error (nil for status 0).
func (r *procRunner) exitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitErr
}

// Kill stops the process and its process group at once.
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	r.killed = true
	pid := r.pid
	r.mu.Unlock()
	if pid == 0 {
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	killGroup(pid)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdoutR }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderrR }
func (r *procRunner) Name() string          { return r.cmd.Path }

func (r *procRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(context.Context) string {
	return "the file is not a plugin built for this host (process.Serve, matching handshake), " +
		"or it failed before completing the handshake; see its stderr"
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
