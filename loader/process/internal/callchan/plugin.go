package callchan

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/slotname"
)

// servedSlot is one function the plugin serves.
type servedSlot struct {
	name  string
	fn    reflect.Value
	shape *Shape
}

// Server is the plugin side of the call channel: it listens on the unix
// socket the host names and runs the calls that arrive on it.
type Server struct {
	slots []*servedSlot // sorted by name; the index is the wire's slot index
	httpC HTTPCodecs
	base  context.Context // parent of every call's context

	mu      sync.Mutex // guards ln, conns, closed
	ln      net.Listener
	conns   map[*serverConn]struct{}
	closed  bool
	wg      sync.WaitGroup // the accept loop
	workers sync.WaitGroup // connection workers: reading, calling or idle
	sockDir string         // a directory the server created for its socket, removed on close
}

// NewServer returns a server of the functions in impls (slot name to
// func), each checked to cross a process boundary. The context of every
// call it runs derives from base.
func NewServer(base context.Context, impls map[string]any) (*Server, error) {
	if len(impls) == 0 {
		return nil, ErrNoSlots
	}
	names := make([]string, 0, len(impls))
	for name := range impls {
		names = append(names, name)
	}
	sort.Strings(names)
	b := NewCodecBuilder()
	s := &Server{httpC: NewHTTPCodecs(), base: base, conns: make(map[*serverConn]struct{})}
	for _, name := range names {
		if !slotname.Valid(name) {
			return nil, fmt.Errorf("slot %q: %w", name, ErrBadName)
		}
		fn := reflect.ValueOf(impls[name])
		if !fn.IsValid() || fn.Kind() != reflect.Func || fn.IsNil() {
			return nil, fmt.Errorf("slot %q: implementation %T is not a non-nil func", name, impls[name])
		}
		shape, err := Analyze(fn.Type(), b)
		if err != nil {
			return nil, fmt.Errorf("slot %q: %w", name, err)
		}
		s.slots = append(s.slots, &servedSlot{name: name, fn: fn, shape: shape})
	}
	return s, nil
}

// SlotInfo describes one slot a server serves, as the handshake reports it.
type SlotInfo struct {
	Name string // the slot
	Type string // the func type as Go spells it, for people
	Desc string // the canonical description the host compares
}

// Slots returns the slots the server serves, in the order of their index
// on the channel.
func (s *Server) Slots() []SlotInfo {
	out := make([]SlotInfo, 0, len(s.slots))
	for _, sl := range s.slots {
		out = append(out, SlotInfo{Name: sl.name, Type: sl.shape.typ.String(), Desc: sl.shape.desc})
	}
	return out
}

// Listen starts the listener once, on the unix socket path or, if path
// is empty, in a directory of its own, and returns the socket's path.
func (s *Server) Listen(path string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	if s.ln != nil {
		return s.ln.Addr().String(), nil
	}
	if path == "" {
		dir, err := os.MkdirTemp("", "hotpatch-proc-")
		if err != nil {
			return "", err
		}
		s.sockDir = dir
		path = filepath.Join(dir, "call.sock")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", fmt.Errorf("call channel: %w", err)
	}
	s.ln = ln
	s.wg.Go(func() { s.accept(ln) })
	return path, nil
}

func (s *Server) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		sc := newServerConn(s, c)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[sc] = struct{}{}
		s.workers.Add(1)
		s.mu.Unlock()
		go sc.work()
	}
}

// Close stops the listener and the connections' readers and waits for
// them, then gives running calls (whose contexts are done) a moment to
// return. A call that ignores its context is abandoned: the process is about
// to exit.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for sc := range s.conns {
		sc.c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(250 * time.Millisecond):
	}
	if s.sockDir != "" {
		os.RemoveAll(s.sockDir)
	}
}
