package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNativePatch follows the README's tour of native patches: build the
// server as a baseline with "hotpatch build", start it, build
// native.sample/greet_native.go against it with "hotpatch patch build", drop
// the .so in, remove it, and drop garbage.
func TestNativePatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server, the hotpatch command and a plugin")
	}
	if runtime.GOOS != "linux" || os.Getenv("CGO_ENABLED") == "0" {
		t.Skip("native patches need linux with cgo")
	}
	tmp := t.TempDir()
	hotpatch := filepath.Join(tmp, "hotpatch")
	if msg, err := exec.Command("go", "build", "-o", hotpatch, "../../cmd/hotpatch").CombinedOutput(); err != nil {
		t.Fatalf("building the hotpatch command: %v\n%s", err, msg)
	}
	shopBin := filepath.Join(tmp, "shop")
	if msg, err := exec.Command(hotpatch, "build", "-o", shopBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("hotpatch build: %v\n%s", err, msg)
	}
	so := filepath.Join(tmp, "greet.so")
	if msg, err := exec.Command(hotpatch, "patch", "build", "--baseline", shopBin, "-o", so, "native.sample/greet_native.go").CombinedOutput(); err != nil {
		t.Fatalf("hotpatch patch build: %v\n%s", err, msg)
	}

	dir := filepath.Join(tmp, "patches")
	srv := exec.Command(shopBin, "-addr", "127.0.0.1:0", "-patches", dir, "-debounce", "20ms")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	addrc := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		serving := regexp.MustCompile(`msg=serving addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { <-copied; done <- srv.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exited with %v", err)
			}
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
			t.Error("server did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start:\n%s", logs)
	}
	greet := func() string {
		resp, err := http.Get(base + "/greet?name=ann")
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitGreet := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(greet(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("greet = %q, want it to contain %q", greet(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	drop := func(name string, content []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path+".tmp", content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		return path
	}

	waitGreet("hello, ann")
	bin, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	path := drop("greet.so", bin)
	waitGreet("from native code: 12 books in stock") // the plugin calls the host's shop package
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitGreet("hello, ann")

	// Garbage is refused; the baseline keeps serving.
	drop("junk.so", []byte("this is not an ELF file"))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "not a native patch") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal of junk.so in the log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := greet(); got != "hello, ann" {
		t.Fatalf("after junk.so: greet = %q", got)
	}

	// A .so cut short (a copy in progress) is said to be truncated.
	drop("cut.so", bin[:len(bin)/2])
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "cut.so") || !strings.Contains(logs.String(), "truncated") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal of cut.so as truncated in the log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := greet(); got != "hello, ann" {
		t.Fatalf("after cut.so: greet = %q", got)
	}
	// The server was built with hotpatch build: it carries a source record,
	// so the loader has nothing to warn about.
	if strings.Contains(logs.String(), "carries no source record") {
		t.Errorf("the loader says a baseline of hotpatch build has no source record:\n%s", logs)
	}
}
