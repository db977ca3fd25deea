//go:build linux

package process

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
)

// BenchmarkProcessCall measures a func(string) string called in a plugin
// process, serially and from parallel goroutines, over this package's call
// channel, over go-plugin's own gRPC and net/rpc transports, and the floor:
// a raw round trip of a few bytes over a unix socket between two processes.
// Each reports the p50 and p99 latency of one call.
func BenchmarkProcessCall(b *testing.B) {
	b.Run("hotpatch", func(b *testing.B) {
		e := newEnv(b, Options{Conns: benchConns()})
		e.apply(b, "greet-v1.proc")
		benchCalls(b, func() string { return e.s.greet.Load()("bench") })
	})
	for _, proto := range []string{"grpc", "netrpc"} {
		b.Run("go-plugin-"+proto, func(b *testing.B) {
			g, stop := startGreeter(b, proto)
			defer stop()
			benchCalls(b, func() string { return g.Greet("bench") })
		})
	}
	b.Run("unix-socket-floor", func(b *testing.B) {
		conn, stop := startEcho(b)
		defer stop()
		var mu sync.Mutex // one conversation at a time: the floor of one round trip
		msg := []byte("bench!")
		benchCalls(b, func() string {
			buf := make([]byte, 16)
			mu.Lock()
			defer mu.Unlock()
			if _, err := conn.Write(msg); err != nil {
				panic(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				panic(err)
			}
			return string(buf[:n])
		})
	})
}

func benchConns() int {
	n, _ := strconv.Atoi(os.Getenv("HOTPATCH_BENCH_CONNS"))
	return n
}

// benchCalls runs call serially and in parallel and reports latency
// percentiles.
func benchCalls(b *testing.B, call func() string) {
	if got := call(); got == "" {
		b.Fatal("empty answer")
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			call()
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var mu sync.Mutex
		var all []time.Duration
		b.RunParallel(func(pb *testing.PB) {
			var lat []time.Duration
			for pb.Next() {
				start := time.Now()
				call()
				lat = append(lat, time.Since(start))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
		reportLatency(b, all)
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}

// startGreeter starts the fixture as an application's go-plugin plugin
// over proto and dispenses its Greeter.
func startGreeter(b *testing.B, proto string) (fixture.Greeter, func()) {
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  fixture.Handshake(),
		Plugins:          plugin.PluginSet{"greeter": &fixture.GreeterPlugin{}},
		Cmd:              exec.Command(fixtureAs(b, proto+"-v1.plugin")),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC, plugin.ProtocolNetRPC},
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	raw, err := rpc.Dispense("greeter")
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	return raw.(fixture.Greeter), c.Kill
}

// startEcho starts the fixture as an echo server on one end of a unix
// socket pair and returns the other end.
func startEcho(b *testing.B) (net.Conn, func()) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "host"), os.NewFile(uintptr(fds[1]), "plugin")
	cmd := exec.Command(fixtureAs(b, "rawecho.proc"))
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	theirs.Close()
	conn, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		b.Fatal(err)
	}
	return conn, func() {
		conn.Close()
		cmd.Wait()
	}
}

// BenchmarkProcessSwap measures bringing up a new version and swapping it
// in: copy, start, handshake, health check, slot report, Apply. The
// replaced version drains and stops in the background, as in production.
func BenchmarkProcessSwap(b *testing.B) {
	b.ReportAllocs()
	e := newEnv(b, Options{})
	cur := e.apply(b, "greet-v0.proc")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		path := fixtureAs(b, fmt.Sprintf("greet-v%d.proc", i))
		b.StartTimer()
		start := time.Now()
		p, err := e.l.Load(context.Background(), e.mgr, path)
		if err != nil {
			b.Fatal(err)
		}
		p.Replaces = cur.ID
		if _, err := e.mgr.Apply(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		cur = p
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1e3, "p99-ms")
}
