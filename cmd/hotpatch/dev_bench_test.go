//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDevLoop measures, on a copy of the example server, the time
// from saving shop/shop.go to the new response being served:
//
//   - hot: "hotpatch dev", a body edit of a slot function (a script);
//   - hot-native: "hotpatch dev", a body edit that calls an unexported
//     helper of its package (a native patch, through the export shims;
//     the first such edit after a baseline build, which compiles the
//     dependencies in plugin mode when the build cache lacks them, is a
//     warm-up, logged, not measured);
//   - baseline-step: "hotpatch dev", the same body edit with a signature
//     change elsewhere in the file (a rebuild and SIGHUP);
//   - rebuild-restart: what air and shell loops do, for the body edit: go
//     build, stop the server, start the new binary.
//
// Each op is one edit; p50-ms and p90-ms are over the run's edits. Run
// with -benchtime=10x (the edits of a baseline step take seconds each).
func BenchmarkDevLoop(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skip("no go command")
	}
	dir := copyExample(b, b.TempDir())
	prep := exec.Command("go", "build", "-mod=mod", "-o", os.DevNull, ".")
	prep.Dir, prep.Env = dir, append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := prep.CombinedOutput(); err != nil {
		b.Fatalf("building the copy: %v\n%s", err, out)
	}
	writeFile(b, filepath.Join(dir, "shop", "state.go"), devStateGo)
	shopGo := filepath.Join(dir, "shop", "shop.go")
	orig, err := os.ReadFile(shopGo)
	if err != nil {
		b.Fatal(err)
	}
	const body = `return "hello, " + name`
	const sig = "func Percent(c Cents, pct int) Cents {"
	seq := 0
	bodyEdit := func() (string, string) {
		seq++
		return strings.Replace(string(orig), body, fmt.Sprintf(`return "v%d, " + name`, seq), 1), fmt.Sprintf("v%d, ann", seq)
	}
	nativeEdit := func() (string, string) {
		seq++
		return strings.Replace(string(orig), body, fmt.Sprintf(`return decorate(fmt.Sprintf("v%d, %%s", name))`, seq), 1), fmt.Sprintf("<v%d, ann>", seq)
	}
	sigEdit := func() (string, string) {
		src, want := bodyEdit()
		return strings.Replace(src, sig, fmt.Sprintf("func Percent(c Cents, pct int, _ ...[%d]int) Cents {", seq), 1), want
	}

	run := func(b *testing.B, next func() (string, string), warm bool) {
		addr := freeAddr(b)
		writeFile(b, shopGo, string(orig))
		out := &devOutput{more: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- runCmd(ctx, []string{"dev", "--debounce", "50ms", dir, "--", "-addr", addr, "-debounce", "20ms"}, out)
		}()
		defer func() { cancel(); <-done }()
		waitBody(b, "http://"+addr+"/greet?name=ann", "hello, ann")
		if warm {
			src, want := next()
			start := time.Now()
			writeFile(b, shopGo, src)
			waitBody(b, "http://"+addr+"/greet?name=ann", want)
			b.Logf("warm-up edit: %s", time.Since(start))
		}
		measure(b, func() time.Duration {
			src, want := next()
			start := time.Now()
			writeFile(b, shopGo, src)
			waitBody(b, "http://"+addr+"/greet?name=ann", want)
			return time.Since(start)
		})
	}
	b.Run("hot", func(b *testing.B) { run(b, bodyEdit, false) })
	b.Run("hot-native", func(b *testing.B) { run(b, nativeEdit, true) })
	b.Run("baseline-step", func(b *testing.B) { run(b, sigEdit, false) })
	b.Run("rebuild-restart", func(b *testing.B) {
		addr := freeAddr(b)
		writeFile(b, shopGo, string(orig))
		bin := filepath.Join(b.TempDir(), "server")
		var cmd *exec.Cmd
		start := func() {
			build := exec.Command("go", "build", "-o", bin, ".")
			build.Dir = dir
			if out, err := build.CombinedOutput(); err != nil {
				b.Fatalf("go build: %v\n%s", err, out)
			}
			if cmd != nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}
			cmd = exec.Command(bin, "-addr", addr, "-patches", filepath.Join(b.TempDir(), "p"))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
		}
		defer func() {
			if cmd != nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}
		}()
		start()
		waitBody(b, "http://"+addr+"/greet?name=ann", "hello, ann")
		measure(b, func() time.Duration {
			src, want := bodyEdit()
			t0 := time.Now()
			writeFile(b, shopGo, src)
			start()
			waitBody(b, "http://"+addr+"/greet?name=ann", want)
			return time.Since(t0)
		})
	})
	writeFile(b, shopGo, string(orig))
}

// measure runs edit b.N times and reports the median and p90.
func measure(b *testing.B, edit func() time.Duration) {
	b.ReportAllocs()
	var ds []time.Duration
	b.ResetTimer()
	for range b.N {
		ds = append(ds, edit())
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(ds[min(len(ds)-1, (len(ds)*9+9)/10-1)])/1e6, "p90-ms")
}

func runCmd(ctx context.Context, args []string, out io.Writer) int { return run(ctx, args, out, out) }

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitBody polls url until it answers want: the measure's end.
func waitBody(b *testing.B, url, want string) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(hang)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(got)) == want {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("%s never answered %q", url, want)
}

// BenchmarkDevScan is one poll of this repository's files: what the loop
// costs while nothing changes.
func BenchmarkDevScan(b *testing.B) {
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	l := &devLoop{root: root}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(l.scan())
	}
	b.ReportMetric(float64(n), "files")
}
