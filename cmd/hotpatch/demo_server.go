package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The demo's server side: the example server as a subprocess, the load
// it serves, and the requests that watch it change.

// demoServer is the example server, started in a process group of its
// own. After a baseline step the process that serves is another one of
// the same group, the child of the first; pgid stays the handle on both.
type demoServer struct {
	pgid  int
	addr  string        // host:port, from its "serving" log line
	tail  *logTail      // the end of its log, for errors
	waitc chan error    // the first process's exit
	read  chan struct{} // closed when its standard error is closed by every process of the group
	pipe  *os.File      // the reading end of its standard error
}

// startServer starts bin with args and waits for its "serving" line.
// Its standard error goes to log, too, when log is not nil.
func startDemoServer(ctx context.Context, bin string, args []string, log io.Writer) (*demoServer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	if log != nil {
		cmd.Stdout = log
	}
	cmd.Stderr = w // a file: the process that takes over at the baseline step inherits it
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	s := &demoServer{pgid: cmd.Process.Pid, tail: &logTail{max: 40}, waitc: make(chan error, 1), read: make(chan struct{}), pipe: r}
	go func() { s.waitc <- cmd.Wait() }()
	addrc := make(chan string, 1)
	go func() {
		defer close(s.read)
		// A line over 1 MiB is cut, not the end of the reading (a
		// server whose output is not read blocks).
		serverLines(r, func(line string) {
			s.tail.add(line)
			if log != nil {
				fmt.Fprintln(log, line)
			}
			if i := strings.Index(line, "msg=serving addr="); i >= 0 {
				a, _, _ := strings.Cut(line[i+len("msg=serving addr="):], " ")
				select {
				case addrc <- a:
				default:
				}
			}
		})
	}()
	select {
	case s.addr = <-addrc:
		return s, nil
	case err := <-s.waitc:
		s.waitc <- err
		s.stop()
		return nil, fmt.Errorf("the example server exited before it served (%v); its log ends:\n%s", err, s.tail)
	case <-time.After(time.Minute):
		s.stop()
		return nil, fmt.Errorf("the example server did not serve within a minute; its log ends:\n%s", s.tail)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// stop stops every process of the group: SIGTERM (the server's graceful
// stop, which also retires its process patches), SIGKILL after 15 s. It
// returns once the group is empty and its log read to the end.
func (s *demoServer) stop() {
	if termGroup(s.pgid) {
		deadline := time.Now().Add(15 * time.Second)
		for groupAlive(s.pgid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // no event says the group is empty
		}
		killGroup(s.pgid)
	}
	select {
	case err := <-s.waitc: // reaped
		s.waitc <- err
	case <-time.After(5 * time.Second):
	}
	select {
	case <-s.read:
	case <-time.After(5 * time.Second):
		// A process outside the group (none of the example's) holds
		// the pipe: stop reading it.
		s.pipe.Close()
		<-s.read
	}
	s.pipe.Close()
}

// logTail keeps the last lines of a log.
type logTail struct {
	mu    sync.Mutex // guards lines
	lines []string
	max   int
}

func (t *logTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return "\t" + strings.Join(t.lines, "\n\t")
}

// The requests of the load: a greeting and a bulk price, the two
// endpoints the patches of the tour change.
const (
	demoGreetPath = "/greet?name=ada"
	demoPricePath = "/price?isbn=9780441013593&qty=10" // Dune: €10.99, 5% off from 10 copies
)

// load is the steady load: clients goroutines each sending requests one
// after the other, counting answers.
type load struct {
	ok, failed atomic.Int64
	lastErr    atomic.Pointer[string]
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// startLoad starts the load on base ("http://host:port").
func startLoad(ctx context.Context, hc *http.Client, base string, clients int) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			paths := []string{demoGreetPath, demoPricePath}
			for n := i; ctx.Err() == nil; n++ {
				_, err := get(ctx, hc, base+paths[n%len(paths)])
				switch {
				case ctx.Err() != nil: // stopping: not the server's failure
				case err != nil:
					l.failed.Add(1)
					msg := err.Error()
					l.lastErr.Store(&msg)
				default:
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

// counts returns the requests answered so far, and those that failed.
func (l *load) counts() (total, failed int64) {
	f := l.failed.Load()
	return l.ok.Load() + f, f
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// get sends GET url and returns the body of a 200 answer; another status
// is an error with the body.
func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// errNotYet is a check's "not yet": try again.
var errNotYet = errors.New("not yet")

// await calls check until it returns nil or an error other than
// errNotYet, for at most limit. It polls: what it waits for (a file's
// patch serving requests) has no event the demo could wait on but the
// answers themselves.
func await(ctx context.Context, limit time.Duration, what string, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := errNotYet
	for {
		err := check(ctx)
		if err == nil || !errors.Is(err, errNotYet) && ctx.Err() == nil {
			return err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: not seen within %v (last: %v)", what, limit, last)
			}
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
