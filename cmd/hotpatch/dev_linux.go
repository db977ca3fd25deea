package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// devServer is the supervised server: the process started from the link,
// and after each baseline step the process that took over, all in one
// process group of their own, so that Ctrl-C reaches the loop only and
// the loop stops every generation.
type devServer struct {
	link    string
	pgid    int
	logs    logWatch
	mu      sync.Mutex // guards current
	current int        // the PID serving
	readers sync.WaitGroup
	waited  chan struct{}    // closed once the first process is reaped
	state   *os.ProcessState // the first process's, once waited is closed
}

// startDevServer starts link with args. Its output (both streams) is
// copied, line by line, to out and to the log watch: the pipes are
// inherited by every later generation, so they end when the last one
// exits.
func startDevServer(link string, args []string, out *devOut) (*devServer, error) {
	s := &devServer{link: link, waited: make(chan struct{})}
	cmd := exec.Command(link, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var writers []*os.File
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		writers = append(writers, w)
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			defer r.Close()
			serverLines(r, func(line string) {
				out.server(line)
				s.logs.line(line)
			})
		}()
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	err := cmd.Start()
	for _, w := range writers {
		w.Close()
	}
	if err != nil {
		s.readers.Wait()
		return nil, fmt.Errorf("start %s: %w", link, err)
	}
	s.pgid, s.current = cmd.Process.Pid, cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		s.state = cmd.ProcessState
		close(s.waited)
	}()
	return s, nil
}

func (s *devServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// restart sends SIGHUP to the serving process and waits for the baseline
// step to end: the old process logs "baseline: restarted" once the new
// one passed its check and serves, or that the restart failed.
func (s *devServer) restart(ctx context.Context, wait time.Duration) (int, error) {
	old := s.pid()
	target, err := filepath.EvalSymlinks(s.link)
	if err != nil {
		return 0, err
	}
	w := s.logs.wait(func(line string) bool {
		return strings.Contains(line, "baseline: restarted") || strings.Contains(line, "baseline: restart failed") ||
			strings.Contains(line, "baseline: restart refused")
	})
	defer s.logs.cancel(w)
	if err := syscall.Kill(old, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("SIGHUP to %d: %w", old, err)
	}
	select {
	case line := <-w.c:
		if !strings.Contains(line, "baseline: restarted") {
			return 0, fmt.Errorf("the server refused the restart: %s", logValue(line, "err"))
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(wait):
		return 0, fmt.Errorf("no baseline step within %s", wait)
	}
	for _, p := range groupPIDs(s.pgid) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); p != old && exe == target {
			s.mu.Lock()
			s.current = p
			s.mu.Unlock()
			return p, nil
		}
	}
	return 0, fmt.Errorf("the server restarted, but no process runs %s", target)
}

// running says whether the server runs: its serving process, checked
// with one read, else any process of its group.
func (s *devServer) running() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 {
		if f := strings.Fields(string(b[i+1:])); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return s.alive()
}

// exitDesc says how the server ended, as far as it is known: the exit
// status of the first process (later ones are not this process's
// children).
func (s *devServer) exitDesc() string {
	select {
	case <-s.waited:
		if s.pid() == s.pgid && s.state != nil {
			return "it exited: " + s.state.String()
		}
	default:
	}
	return "it exited"
}

// alive says whether any process of the server runs.
func (s *devServer) alive() bool { return len(groupPIDs(s.pgid)) > 0 }

// stop ends every process of the server: SIGTERM, then SIGKILL after a
// grace period, or at once when hurry gets a signal (Ctrl-C again), and
// waits for them and for their output. note says what the wait is when
// it lasts.
func (s *devServer) stop(hurry <-chan os.Signal, note func(string)) error {
	_ = syscall.Kill(-s.pgid, syscall.SIGTERM)
	start := time.Now()
	deadline, why := start.Add(15*time.Second), "within 15s of SIGTERM"
	var err error
	noted := false
	for len(groupPIDs(s.pgid)) > 0 {
		select {
		case <-hurry:
			deadline, why = time.Now(), "after SIGTERM, and Ctrl-C came again"
		default:
		}
		if !noted && time.Since(start) > time.Second {
			// A server draining a request that never ends (a hot
			// edit's endless loop): say what the wait is.
			noted = true
			note("waiting for the server to stop (SIGTERM sent): it is killed in 15s, or at the next Ctrl-C")
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
			err = fmt.Errorf("the server did not stop %s: killed", why)
			deadline = time.Now().Add(time.Hour)
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-s.waited
	done := make(chan struct{})
	go func() { s.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("a process outside the server's group holds its output open"))
	}
	return err
}

// groupPIDs lists the live (not zombie) processes of group pgid.
func groupPIDs(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// killBuilds stops the go commands this process runs into dir (their
// command line names it) with the tools they run (their children, the
// processes of their group when they lead one, and any process whose
// command line names dir, such as a tool whose go command died first): the go command has no
// handler for SIGINT while it builds, and a killed one leaves its tools
// running. So each tree is frozen first (SIGSTOP; /proc read again until
// no new process shows up: one frozen cannot start another), then
// killed. The go command's work directory is in dir (GOTMPDIR), removed
// with it. The server's process group, spare, is left to stop.
func killBuilds(dir string, spare int) {
	self := os.Getpid()
	frozen := map[int]bool{}
	groups := map[int]bool{} // the groups of frozen go commands that lead their own (see goWithTmp)
	for {
		added := false
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || frozen[pid] {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(b[i+1:]))
			if len(f) < 3 || f[0] == "Z" || f[2] == strconv.Itoa(spare) {
				continue
			}
			ppid, _ := strconv.Atoi(f[1])
			pgrp, _ := strconv.Atoi(f[2])
			if !frozen[ppid] && !groups[pgrp] {
				// A go command, or a tool whose go command is gone
				// already (it was re-parented: found by its command
				// line, which names the work directory in dir).
				if pid == self {
					continue
				}
				if cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err != nil || !strings.Contains(string(cl), dir) {
					continue
				}
			}
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			frozen[pid], added = true, true
			if pgrp == pid && pgrp != spare {
				groups[pgrp] = true
			}
		}
		if !added {
			break
		}
	}
	for pid := range frozen {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// SIGKILL takes effect when the process next runs: wait for that,
	// so that none is left when the caller goes on.
	deadline := time.Now().Add(5 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		live := 0
		for pid := range frozen {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && !strings.HasPrefix(string(b[i+1:]), " Z") {
				live++
			}
		}
		if live == 0 {
			break
		}
	}
	// A go command that SIGSTOP reached in the middle of a fork has a
	// child the scans above did not see (re-parented once the command
	// died): it is in the group the command leads (see goWithTmp), as
	// are its own children. Empty those groups.
	for g := range groups {
		for ; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if len(groupPIDs(g)) == 0 {
				break
			}
			_ = syscall.Kill(-g, syscall.SIGKILL)
		}
	}
}
