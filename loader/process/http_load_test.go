//go:build linux

package process

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/httpcases"
)

// TestHTTPBridgeLoad is a measurement, not part of the suite: with
// HOTPATCH_HTTP_LOAD=1 (and wrk and curl installed) it serves the "small"
// case compiled and from the chanfixture plugin process on loopback,
// drives both with wrk, streams a 1 GiB chunked upload through the bridge,
// reads a large response at 1 KiB/s, and logs requests/s, errors, the
// host's peak RSS and the goroutines and open files of host and plugin
// before and after.
func TestHTTPBridgeLoad(t *testing.T) {
	if os.Getenv("HOTPATCH_HTTP_LOAD") == "" {
		t.Skip("a measurement: set HOTPATCH_HTTP_LOAD=1")
	}
	impls, sink := loadChanFixture(t)
	idx := map[string]int{}
	for i, c := range httpcases.Cases {
		idx[c.Name] = i
	}
	direct, bridged := http.NewServeMux(), http.NewServeMux()
	for _, name := range []string{"small", "large upload"} {
		i := idx[name]
		path := fmt.Sprintf("/h/%d", i)
		direct.Handle(path, httpcases.Cases[i].Handler)
		bridged.Handle(path, impls[fmt.Sprintf("h.Case%d", i)].(http.HandlerFunc))
	}
	bridged.Handle("/huge", impls["h.Huge"].(http.HandlerFunc))
	ds, bs := httptest.NewServer(direct), httptest.NewServer(bridged)
	defer ds.Close()
	defer bs.Close()
	plugin := childPID(t)
	before := snapshot(plugin)
	t.Logf("before: %s", before)

	small := fmt.Sprintf("/h/%d", idx["small"])
	for _, s := range []struct{ name, url string }{{"compiled", ds.URL}, {"bridged", bs.URL}} {
		out, err := exec.Command("wrk", "-t2", "-c32", "-d10s", s.url+small).CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v\n%s", err, out)
		}
		rps := regexp.MustCompile(`Requests/sec:\s+(\S+)`).FindSubmatch(out)
		errs := regexp.MustCompile(`(Socket errors|Non-2xx).*`).FindAll(out, -1)
		t.Logf("wrk -t2 -c32 -d10s %s: %s requests/s, errors: %q", s.name, rps[1], errs)
	}
	t.Logf("after wrk: %s", snapshot(plugin))

	// 1 GiB chunked upload, hashed by the plugin's handler.
	peak := watchRSS()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("head -c 1073741824 /dev/zero | curl -sS -T - -H 'Transfer-Encoding: chunked' %s%s/h/%d", bs.URL, "", idx["large upload"]))
	out, err := cmd.CombinedOutput()
	t.Logf("1 GiB chunked upload: %q %v; host peak RSS %d MiB", out, err, peak()>>20)

	// A client that reads 1 KiB/s of a 65 MiB response for 10 s.
	peak = watchRSS()
	c, err := net.Dial("tcp", bs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(c, 1024)
	var got int
	buf := make([]byte, 1024)
	for range 10 {
		n, _ := io.ReadFull(br, buf)
		got += n
		time.Sleep(time.Second) // the client's pace, not synchronisation
	}
	t.Logf("slow reader: read %d bytes in 10 s; host peak RSS %d MiB; %s", got, peak()>>20, snapshot(plugin))
	c.Close()

	// Let the servers' idle connections go before the last count.
	ds.CloseClientConnections()
	bs.CloseClientConnections()
	time.Sleep(3 * time.Second) // the host's drain grace, then quiet
	t.Logf("after: %s", snapshot(plugin))

	// curl over HTTP/2 (TLS, ALPN h2): every case of the table, compiled
	// and bridged, compared as curl prints them (headers without Date).
	dmux, bmux := http.NewServeMux(), http.NewServeMux()
	for i, c := range httpcases.Cases {
		dmux.Handle(fmt.Sprintf("/h/%d", i), middleware(c.Handler))
		bmux.Handle(fmt.Sprintf("/h/%d", i), middleware(impls[fmt.Sprintf("h.Case%d", i)].(http.HandlerFunc)))
	}
	var urls [2]string
	for k, m := range []*http.ServeMux{dmux, bmux} {
		s := httptest.NewUnstartedServer(m)
		s.EnableHTTP2 = true
		s.StartTLS()
		defer s.Close()
		urls[k] = s.URL
	}
	date := regexp.MustCompile(`(?mi)^(date|content-type: multipart/byteranges; boundary)[:=].*$`)
	same := 0
	for i, c := range httpcases.Cases {
		if c.Req != nil && c.Name != "head" && !strings.Contains(c.Name, "HEAD") && !strings.Contains(c.Name, "Range") && !strings.Contains(c.Name, "range") && !strings.Contains(c.Name, "If-Modified") {
			continue // a request curl would not make the same
		}
		var outs [2]string
		for k, u := range urls {
			args := []string{"-sk", "--http2", "-i", "--max-time", "20"}
			if r := c.Req; r != nil {
				req := r(u)
				if req.Method == "HEAD" {
					args = append(args, "-I")
				}
				for h, v := range req.Header {
					args = append(args, "-H", h+": "+v[0])
				}
			}
			out, err := exec.Command("curl", append(args, fmt.Sprintf("%s/h/%d", u, i))...).CombinedOutput()
			outs[k] = date.ReplaceAllString(string(out), "") + fmt.Sprint(err)
		}
		if outs[0] != outs[1] {
			t.Errorf("curl --http2 %s: bridged:\n%.600s\ncompiled:\n%.600s", c.Name, outs[1], outs[0])
		} else {
			same++
		}
	}
	t.Logf("curl --http2: %d cases the same", same)
	t.Logf("reported failures: %d", sink.count())
}

type snap struct {
	goroutines, hostFDs, pluginFDs int
	hostRSS, pluginRSS             int64
	pluginThreads                  string
}

func (s snap) String() string {
	return fmt.Sprintf("host %d goroutines, %d fds, RSS %d MiB; plugin %d fds, RSS %d MiB, threads %s",
		s.goroutines, s.hostFDs, s.hostRSS>>20, s.pluginFDs, s.pluginRSS>>20, s.pluginThreads)
}

func snapshot(plugin int) snap {
	fds := func(pid string) int { e, _ := os.ReadDir(filepath.Join("/proc", pid, "fd")); return len(e) }
	return snap{
		goroutines: runtime.NumGoroutine(), hostFDs: fds("self"), pluginFDs: fds(strconv.Itoa(plugin)),
		hostRSS: rssOf("self"), pluginRSS: rssOf(strconv.Itoa(plugin)), pluginThreads: statusField(strconv.Itoa(plugin), "Threads"),
	}
}

func statusField(pid, key string) string {
	b, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func rssOf(pid string) int64 {
	f := strings.Fields(statusField(pid, "VmRSS"))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n << 10
}

// watchRSS samples the host's RSS every 50 ms until the returned func is
// called, which returns the peak.
func watchRSS() func() int64 {
	stop, res := make(chan struct{}), make(chan int64)
	go func() {
		var peak int64
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			peak = max(peak, rssOf("self"))
			select {
			case <-stop:
				res <- peak
				return
			case <-tk.C:
			}
		}
	}()
	return func() int64 { close(stop); return <-res }
}

// childPID returns the pid of the one child process of the test.
func childPID(t *testing.T) int {
	me := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == me {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	t.Fatal("no plugin process")
	return 0
}
