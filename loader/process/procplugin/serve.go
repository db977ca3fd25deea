package procplugin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/control"
)

// Serve runs the plugin side of a process patch and returns when the host
// stops the plugin. impls maps slot names to the functions that serve them:
//
//	func main() {
//		procplugin.Serve(map[string]any{"example.Greet": Greet})
//	}
//
// Every function must have a shape that crosses a process boundary (see
// the documentation of loader/process). A malformed map, or an executable
// that was not launched by a hotpatch host, prints why to standard error
// and exits with status 1.
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := callchan.NewServer(ctx, impls)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hotpatch process plugin: %v\n", err)
		os.Exit(1)
	}
	stderr := os.Stderr // go-plugin replaces os.Stderr with its stdio stream
	slog.SetDefault(slog.New(newLogHandler(stderr)))
	becomeSubreaper()
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
	if ppid, err := strconv.Atoi(os.Getenv(control.EnvParentPID)); err == nil && ppid > 1 {
		wg.Go(func() { watchParent(ctx, ppid, leave) })
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: control.HandshakeConfig(),
		Plugins:         plugin.PluginSet{control.PluginName: &control.GRPCPlugin{Srv: hello{srv}}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Info,
			Output:     stderr,
			JSONFormat: true,
		}),
	})
	cancel()
	srv.Close()
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
	ppid, err := strconv.Atoi(os.Getenv(control.EnvParentPID))
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

// hello answers the host's first contact, listening on the call socket if
// that has not happened yet.
type hello struct{ srv *callchan.Server }

func (h hello) Hello(_ context.Context, req control.HelloRequest) (control.HelloReply, error) {
	if req.Version != callchan.Version {
		return control.HelloReply{}, fmt.Errorf("%w: host speaks call channel version %d, plugin speaks %d", callchan.ErrProtocol, req.Version, callchan.Version)
	}
	addr, err := h.srv.Listen(os.Getenv(control.EnvCallSocket))
	if err != nil {
		return control.HelloReply{}, err
	}
	reply := control.HelloReply{Version: callchan.Version, PID: os.Getpid(), Socket: addr, Manifest: buildManifest}
	for _, sl := range h.srv.Slots() {
		reply.Slots = append(reply.Slots, control.SlotInfo{Name: sl.Name, Type: sl.Type, Desc: sl.Desc})
	}
	return reply, nil
}

// newLogHandler returns the slog handler of a plugin: JSON records, which
// the host logs with their level and attributes.
func newLogHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
}
