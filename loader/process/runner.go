package process

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin/runner"
)

// pipeLinger bounds how long the host keeps reading a plugin's standard
// streams after the plugin exited and its process group was killed. A
// stranger (a descendant that left the group) may hold the pipes open for
// as long as it lives; go-plugin waits for both pipes to end before it
// lets Kill return, so past this the host stops reading and reports the
// streams as ended.
const pipeLinger = 500 * time.Millisecond

// procRunner runs a plugin executable for go-plugin (ClientConfig.RunnerFunc)
// so that the host owns the exec.Cmd: the child gets a parent-death signal
// and its own process group (see sysProcAttr), its standard streams are
// plain pipes that outlive cmd.Wait (so no line of a dying plugin's stderr is
// lost), and the host learns of its exit at once through exited.
//
// Whenever the plugin exits — stopped, crashed or killed — its process
// group is killed before the plugin is reaped (so that the group's ID
// cannot have been reused), and the pipes are read for at most pipeLinger
// more.
type procRunner struct {
	cmd   *exec.Cmd
	spawn func(start func() error) error // runs cmd.Start on the loader's spawner thread

	stdout, stderr   *pipeEnd // read ends, closed by Wait
	stdoutW, stderrW *os.File // write ends, closed after Start

	mu     sync.Mutex // guards pid, killed, forced, outEnded, waitErr
	pid    int
	killed bool // Kill was called: a process started after it is killed at once
	forced bool // Kill found the process running and killed it
	// outEnded: when Kill killed the running process, its standard output
	// had already ended (it closed it, or handed it to no one).
	outEnded bool
	waitErr  error

	// reapMu is held from the moment the process is known to have exited
	// until it is reaped, and by Kill: so Kill never signals a pid (or
	// walks the descendants of one) that was reaped and may be reused.
	reapMu sync.Mutex
	reaped bool

	exited    chan struct{} // closed when the process has exited, its group was killed and it was reaped
	done      chan struct{} // closed when the streams are ended too (EOF or pipeLinger)
	closeOnce sync.Once
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(cmd *exec.Cmd, spawn func(func() error) error, attr sysAttr) (*procRunner, error) {
	r := &procRunner{cmd: cmd, spawn: spawn, exited: make(chan struct{}), done: make(chan struct{})}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	r.stdout, r.stdoutW = newPipeEnd(outR, firstLineBytes), outW
	r.stderr, r.stderrW = newPipeEnd(errR, 0), errW
	cmd.Stdin = nil // the plugin reads nothing of the host's
	cmd.Stdout = r.stdoutW
	cmd.Stderr = r.stderrW
	cmd.SysProcAttr = sysProcAttr(attr)
	return r, nil
}

func (r *procRunner) Start(context.Context) error {
	err := r.spawn(r.cmd.Start)
	r.stdoutW.Close()
	r.stderrW.Close()
	if err != nil {
		r.closeReaders()
		close(r.exited)
		close(r.done)
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
	go r.wait() // ends when the process does; Kill makes sure it does
	return nil
}

// wait waits for the process, kills what is left of its group, reaps it,
// and ends the streams at the latest pipeLinger later.
func (r *procRunner) wait() {
	defer close(r.done)
	// Once waitExited returns true the plugin is a zombie: its pid, and so
	// its group ID, stays taken until it is reaped.
	early := waitExited(r.pid)
	if early {
		r.reapMu.Lock()
		killGroup(r.pid)
	}
	err := r.cmd.Wait()
	if !early {
		r.reapMu.Lock()
		killGroup(r.pid)
	}
	r.reaped = true
	r.reapMu.Unlock()
	r.mu.Lock()
	r.waitErr = err
	r.mu.Unlock()
	close(r.exited)

	t := time.NewTimer(pipeLinger)
	defer t.Stop()
	for _, p := range []*pipeEnd{r.stdout, r.stderr} {
		select {
		case <-p.eof:
		case <-t.C:
			// A stranger holds the pipes: stop reading them.
			r.stdout.detach()
			r.stderr.detach()
			return
		}
	}
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
		r.stdout.f.Close()
		r.stderr.f.Close()
	})
}

// exitErr returns the process's exit status as an error (nil for status 0).
func (r *procRunner) exitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitErr
}

// wasForced reports whether Kill had to kill a running process.
func (r *procRunner) wasForced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forced
}

// stdoutEndedFirst reports whether the process's standard output had ended
// while it still ran, before Kill killed it.
func (r *procRunner) stdoutEndedFirst() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forced && r.outEnded
}

// Kill stops the process and its process group at once, and on Linux
// also the descendants that left the group while the process still holds
// them (a child in a session of its own may hold the plugin's listener or
// its pipes; one that was re-parented before cannot be found).
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	r.killed = true
	pid := r.pid
	r.mu.Unlock()
	if pid == 0 {
		return nil
	}
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if r.reaped {
		return nil
	}
	r.mu.Lock()
	// Only the first Kill sees the process as it ran: a later one (go-plugin
	// kills again after its own start timeout) finds the output that the
	// first one ended, and must not blame the plugin for it.
	if !r.forced {
		r.forced = true
		select {
		case <-r.stdout.eof:
			r.outEnded = true
		default:
		}
	}
	r.mu.Unlock()
	killTree(pid)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
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

// isKilled reports whether a process ended by SIGKILL.
func isKilled(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(interface {
		Signaled() bool
		Signal() syscall.Signal
	})
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// firstLineBytes is how much of a plugin's standard output is kept to say
// what it printed instead of a handshake line.
const firstLineBytes = 256

// pipeEnd is the host's read end of a plugin's standard stream. Once
// detached (the plugin exited and a stranger still holds the write end),
// reads end at once with io.EOF. It keeps the first bytes read, if asked.
type pipeEnd struct {
	f       *os.File
	eof     chan struct{} // closed at the end of the stream
	eofOnce sync.Once

	mu    sync.Mutex // guards first
	keep  int
	first []byte
}

func newPipeEnd(f *os.File, keep int) *pipeEnd {
	return &pipeEnd{f: f, eof: make(chan struct{}), keep: keep}
}

func (p *pipeEnd) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	if n > 0 && p.keep > 0 {
		p.mu.Lock()
		if room := p.keep - len(p.first); room > 0 {
			p.first = append(p.first, b[:min(n, room)]...)
		}
		p.mu.Unlock()
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
			err = io.EOF
		}
		if err == io.EOF {
			p.eofOnce.Do(func() { close(p.eof) })
		}
	}
	return n, err
}

// Close is go-plugin's to call; the runner closes the file in Wait.
func (p *pipeEnd) Close() error { return nil }

// detach ends reads now, whoever holds the write end.
func (p *pipeEnd) detach() { _ = p.f.SetReadDeadline(time.Now()) }

// head returns the first bytes read.
func (p *pipeEnd) head() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.first)
}
