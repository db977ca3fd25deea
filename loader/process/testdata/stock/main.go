// Command stock is a go-plugin plugin written the way go-plugin's own
// examples are (plugin.Serve, no hotpatch code on the plugin side), with
// hostile behaviours picked by its file name: shape_behaviour_token.ext.
//
// Shapes: "rpc" serves "greeter" over net/rpc (examples/basic), "grpc"
// serves "greeter_grpc" over gRPC (examples/grpc). The token is set as
// STOCK_MARKER in the environment of everything the plugin starts, so
// that a test can find what is left of it.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
)

type greeter struct{ shape string }

func (g greeter) Greet(name string) string { return "hello from " + g.shape + ", " + name }

func main() {
	name := filepath.Base(os.Args[0])
	name = strings.TrimSuffix(name, filepath.Ext(name))
	parts := strings.SplitN(name, "_", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	shape, behaviour, token := parts[0], parts[1], parts[2]
	os.Setenv("STOCK_MARKER", token)

	switch behaviour {
	case "sleeper": // a child in the group holding stdout and stderr
		start(false, "sleep", "1000")
	case "daemon": // double fork: setsid + fork, the parent exits
		start(true, "sh", "-c", "sleep 1000 & exit 0")
	case "stray": // a child in a session of its own holding the pipes
		start(true, "sleep", "1000")
	case "forkbomb":
		for range 100 {
			start(false, "sleep", "1000")
		}
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
	case "megabyte": // 1 MB on stdout before the handshake
		os.Stdout.WriteString(strings.Repeat("x", 1<<20) + "\n")
	case "spin":
		for range 4 {
			go func() {
				for {
				}
			}()
		}
	case "exit0": // a valid handshake line, then exit
		ln := listen()
		fmt.Printf("1|1|unix|%s|%s\n", ln.Addr(), proto(shape))
		os.Exit(0)
	case "badaddr":
		fmt.Printf("1|1|unix|/nonexistent/stock.sock|%s\n", proto(shape))
		block()
	case "badproto":
		ln := listen()
		fmt.Printf("1|1|unix|%s|smoke-signals\n", ln.Addr())
		block()
	case "badversion":
		ln := listen()
		fmt.Printf("1|42|unix|%s|%s\n", ln.Addr(), proto(shape))
		block()
	case "tcpnobody":
		fmt.Printf("1|1|tcp|127.0.0.1:1|%s\n", proto(shape))
		block()
	case "mute": // a listener held by a stranger that never answers
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			panic(err)
		}
		cmd := exec.Command("sleep", "1000")
		cmd.ExtraFiles = []*os.File{f}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		fmt.Printf("1|1|tcp|%s|%s\n", ln.Addr(), proto(shape))
		block()
	case "nonewline":
		fmt.Print("1|1|unix")
		block()
	case "closestdout":
		os.Stdout.Close()
		block()
	case "silentspin":
		for {
		}
	}

	cfg := &plugin.ServeConfig{HandshakeConfig: fixture.Handshake()}
	if shape == "bidi" {
		cfg.Plugins = plugin.PluginSet{"counter": &fixture.CounterPlugin{Impl: counter{}}}
	} else if shape == "grpc" {
		cfg.Plugins = plugin.PluginSet{"greeter_grpc": &fixture.GreeterGRPC{Impl: greeter{shape}}}
		cfg.GRPCServer = plugin.DefaultGRPCServer
	} else {
		cfg.Plugins = plugin.PluginSet{"greeter": &fixture.GreeterRPC{Impl: greeter{shape}}}
	}
	plugin.Serve(cfg)
	if behaviour == "cleanup" { // work after Serve returns, as a plugin may
		time.Sleep(100 * time.Millisecond)
		os.WriteFile(filepath.Join(os.TempDir(), "stock-"+token), []byte("clean\n"), 0o600)
	}
}

// counter calls back into the host for every Add.
type counter struct{}

func (counter) Add(n int, adder fixture.Adder) (int, error) { return adder.Sum(n, 1) }

func proto(shape string) string {
	if shape == "grpc" {
		return "grpc"
	}
	return "netrpc"
}

// listen listens on an abstract unix socket: nothing to clean up.
func listen() net.Listener {
	ln, err := net.Listen("unix", fmt.Sprintf("@stock-%d", os.Getpid()))
	if err != nil {
		panic(err)
	}
	return ln
}

func block() { time.Sleep(time.Hour) }

// start runs a command holding the plugin's stdout and stderr.
func start(setsid bool, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "stock:", err)
		os.Exit(3)
	}
	fmt.Fprintf(os.Stderr, "stock: started %s as %d\n", name, cmd.Process.Pid)
}
