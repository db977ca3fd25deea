package process

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Serve runs the plugin side of a process patch and returns when the host
// stops the plugin. impls maps slot names to the functions that serve them:
//
//	func main() {
//		process.Serve(map[string]any{"example.Greet": Greet})
//	}
//
// Every function must have a shape that crosses a process boundary (see
// the package documentation). A malformed map, or an executable that was not
// launched by a hotpatch host, prints why to standard error and exits with
// status 1.
//
// Serve takes over the process as go-plugin does: standard output and
// standard error are forwarded to the host, and slog's default logger
// writes JSON records that the host logs with their level and attributes
// under the patch ID.
//
// Nothing the plugin starts outlives it: when the host stops the plugin,
// Serve kills the plugin's descendants before it returns; when the host
// goes away (the parent-death signal, SIGTERM, or on every platform a
// change of parent pid seen within a quarter second), it kills them and
// its process group, itself included. On Linux the plugin is a child
// subreaper, so descendants that daemonize (leave its process group or
// session, lose their parent) are still found and killed.
func Serve(impls map[string]any) {
	srv, err := newServer(impls)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hotpatch process plugin: %v\n", err)
		os.Exit(1)
	}
	stderr := os.Stderr // go-plugin replaces os.Stderr with its stdio stream
	slog.SetDefault(slog.New(newPluginLogHandler(stderr)))
	becomeSubreaper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.base = ctx
	leave := func(why string) {
		// The host's end of the pipes is closed: a write to stderr would
		// raise SIGPIPE and end the plugin before it has cleaned up.
		signal.Ignore(syscall.SIGPIPE)
		killDescendants()
		fmt.Fprintf(stderr, "hotpatch process plugin: %s; stopped with everything it started\n", why)
		dieWithGroup()
	}
	var wg sync.WaitGroup
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM) // the parent-death signal of hotpatch's own plugins
	early.end()
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case sig := <-term:
			leave(fmt.Sprintf("received %v (host %d gone?)", sig, os.Getppid()))
		}
	})
	if ppid, err := strconv.Atoi(os.Getenv(envParentPID)); err == nil && ppid > 1 {
		wg.Go(func() { watchParent(ctx, ppid, leave) })
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshakeConfig(),
		Plugins:         plugin.PluginSet{pluginName: &grpcPlugin{srv: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Info,
			Output:     stderr,
			JSONFormat: true,
		}),
	})
	cancel()
	srv.close()
	signal.Stop(term)
	wg.Wait()
	killDescendants()
}

// early guards a plugin from its start until Serve takes over: a host
// that dies while the plugin's main is still initialising (and has perhaps
// started children) sends the parent-death signal, SIGTERM, whose default
// action would end the plugin alone. The guard is set up only in a
// process the host started as a plugin (its parent is the pid the host
// passed), never in the host or in what a plugin runs.
var early earlyGuard

type earlyGuard struct {
	term chan os.Signal
	stop chan struct{}
	once sync.Once
}

func init() {
	ppid, err := strconv.Atoi(os.Getenv(envParentPID))
	if err != nil || ppid <= 1 || ppid != os.Getppid() {
		return
	}
	becomeSubreaper()
	early.term = make(chan os.Signal, 1)
	early.stop = make(chan struct{})
	signal.Notify(early.term, syscall.SIGTERM)
	go func() {
		select {
		case <-early.term:
			signal.Ignore(syscall.SIGPIPE)
			killDescendants()
			dieWithGroup()
		case <-early.stop:
		}
	}()
}

// end hands the guard over to Serve, which has its own SIGTERM handling.
func (g *earlyGuard) end() {
	if g.term == nil {
		return
	}
	g.once.Do(func() {
		signal.Stop(g.term)
		close(g.stop)
	})
}

// buildManifest is set by `hotpatch patch build --kind process`, with
// -ldflags=-X, to the slots of the patch source and their types as written
// (internal/manifest); the plugin reports it in its hello.
var buildManifest string

// watchParent calls leave when the plugin's parent is no longer ppid: the
// host died and the plugin was re-parented. On Linux the parent-death
// signal usually comes first; this covers the other platforms, and a
// plugin whose SIGTERM was caught by its own code.
func watchParent(ctx context.Context, ppid int, leave func(string)) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				leave(fmt.Sprintf("host %d went away", ppid))
				return
			}
		}
	}
}

// servedSlot is one function the plugin serves.
type servedSlot struct {
	name  string
	fn    reflect.Value
	shape *funcShape
}

// server is the plugin side: the control service and the call channel.
type server struct {
	slots []*servedSlot // sorted by name; the index is the wire's slot index
	httpC httpCodecs
	base  context.Context // parent of every call's context; ends when Serve returns

	mu      sync.Mutex // guards ln, conns, closed
	ln      net.Listener
	conns   map[*serverConn]struct{}
	closed  bool
	wg      sync.WaitGroup // the accept loop
	workers sync.WaitGroup // connection workers: reading, calling or idle
	sockDir string         // a directory the server created for its socket, removed on close
}

func newServer(impls map[string]any) (*server, error) {
	if len(impls) == 0 {
		return nil, ErrNoSlots
	}
	names := make([]string, 0, len(impls))
	for name := range impls {
		names = append(names, name)
	}
	sort.Strings(names)
	b := newCodecBuilder()
	s := &server{httpC: newHTTPCodecs(), base: context.Background(), conns: make(map[*serverConn]struct{})}
	for _, name := range names {
		if !registry.ValidName(name) {
			return nil, fmt.Errorf("slot %q: %w", name, registry.ErrBadName)
		}
		fn := reflect.ValueOf(impls[name])
		if !fn.IsValid() || fn.Kind() != reflect.Func || fn.IsNil() {
			return nil, fmt.Errorf("slot %q: implementation %T is not a non-nil func", name, impls[name])
		}
		shape, err := analyze(fn.Type(), b)
		if err != nil {
			return nil, fmt.Errorf("slot %q: %w", name, err)
		}
		s.slots = append(s.slots, &servedSlot{name: name, fn: fn, shape: shape})
	}
	return s, nil
}

// hello answers the host's first contact, listening on the call socket if
// that has not happened yet.
func (s *server) hello(_ context.Context, req helloRequest) (helloReply, error) {
	if req.Version != channelVersion {
		return helloReply{}, fmt.Errorf("%w: host speaks call channel version %d, plugin speaks %d", ErrProtocol, req.Version, channelVersion)
	}
	addr, err := s.listen()
	if err != nil {
		return helloReply{}, err
	}
	reply := helloReply{Version: channelVersion, PID: os.Getpid(), Socket: addr, Manifest: buildManifest}
	for _, sl := range s.slots {
		reply.Slots = append(reply.Slots, slotInfo{Name: sl.name, Type: sl.shape.typ.String(), Desc: sl.shape.desc})
	}
	return reply, nil
}

// listen starts the call channel's listener once and returns its path.
func (s *server) listen() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	if s.ln != nil {
		return s.ln.Addr().String(), nil
	}
	path := os.Getenv(envCallSocket)
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

func (s *server) accept(ln net.Listener) {
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

// close stops the listener and the connections' readers and waits for
// them, then gives running calls (whose contexts are done) a moment to
// return. A call that ignores its context is abandoned: the process is about
// to exit.
func (s *server) close() {
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
