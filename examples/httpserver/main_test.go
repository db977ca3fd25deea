package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// testServer is the example server running in the test's process.
type testServer struct {
	t      *testing.T
	url    string
	dir    string // the patch directory
	logs   *syncBuffer
	client *http.Client
}

// start runs the server on a loopback port with a fresh patch directory
// (which run must create) and stops it when the test ends.
func start(t *testing.T, args ...string) *testServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "patches")
	s := &testServer{
		t:    t,
		dir:  dir,
		logs: &syncBuffer{},
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 32},
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-patches", dir, "-debounce", "20ms"}, args...)
	go func() { done <- run(ctx, args, s.logs, s.logs, func(addr string) { ready <- addr }) }()
	select {
	case addr := <-ready:
		s.url = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, s.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the server did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
		s.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	return s
}

// get returns the status and body of GET path.
func (s *testServer) get(path string) (int, string, error) {
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// mustGet is get for the test's own goroutine: it fails the test unless
// the answer is wantStatus.
func (s *testServer) mustGet(path string, wantStatus int) string {
	s.t.Helper()
	code, body, err := s.get(path)
	if err != nil || code != wantStatus {
		s.t.Fatalf("GET %s: %d %q, %v; want status %d", path, code, body, err, wantStatus)
	}
	return body
}

// greet returns the body of GET /greet?name=name, which must succeed.
func (s *testServer) greet(name string) string {
	s.t.Helper()
	return s.mustGet("/greet?name="+url.QueryEscape(name), http.StatusOK)
}

// waitGreet waits until GET /greet?name=name answers want.
func (s *testServer) waitGreet(name, want string) {
	s.t.Helper()
	s.waitFor("GET /greet to answer "+strconv.Quote(want), func() bool { return s.greet(name) == want })
}

// waitFor polls cond until it holds, or fails the test after a generous
// timeout: the time it takes is a benchmark figure, not a test assertion.
func (s *testServer) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status is the answer of GET /admin/patches (hotpatch.Runtime.StatusHandler).
type status struct {
	Generation uint64
	Slots      []struct {
		Name, Type, Patch, Kind string
		Generation              uint64
		Failures                int64
	}
	Stack []struct {
		ID, Kind, Source string
		Serving          []string
	}
	Events []struct {
		Time                     time.Time
		Type                     string
		Generation               uint64
		Patch, Source, Err, Note string
	}
}

// status returns GET /admin/patches, decoded.
func (s *testServer) status() status {
	s.t.Helper()
	var st status
	if err := json.Unmarshal([]byte(s.mustGet("/admin/patches", http.StatusOK)), &st); err != nil {
		s.t.Fatal(err)
	}
	return st
}

// write replaces a patch file the safe way: write a temporary file, then
// rename it over the old one, so the watcher never sees half a file.
func (s *testServer) write(name string, content []byte) string {
	s.t.Helper()
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		s.t.Fatal(err)
	}
	return path
}

func greetVersion(v int) []byte {
	return fmt.Appendf(nil, "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn \"v%d hello, \" + name\n}\n", v)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := start(t)
	if fi, err := os.Stat(s.dir); err != nil || !fi.IsDir() {
		t.Fatalf("the patch directory was not created: %v", err)
	}
	if got := s.greet("ada"); got != "hello, ada" {
		t.Errorf("greet = %q", got)
	}

	var q shop.Quote
	if err := json.Unmarshal([]byte(s.mustGet("/price?isbn=9780441013593&qty=10", http.StatusOK)), &q); err != nil {
		t.Fatal(err)
	}
	if q.Subtotal != 10990 || q.Discount != 550 || q.Total != 10440 {
		t.Errorf("price = %+v", q)
	}
	var books []shop.Book
	if err := json.Unmarshal([]byte(s.mustGet("/books?q=asimov", http.StatusOK)), &books); err != nil || len(books) != 1 || books[0].Title != "Foundation" {
		t.Errorf("books = %+v, %v", books, err)
	}
	if got := s.mustGet("/books?q=nothing+like+this", http.StatusOK); got != "[]\n" {
		t.Errorf("no match = %q, want an empty list", got)
	}
	if err := json.Unmarshal([]byte(s.mustGet("/recommend?isbn=9780441013593&n=1", http.StatusOK)), &books); err != nil || len(books) != 1 || books[0].Title != "Neuromancer" {
		t.Errorf("recommend = %+v, %v", books, err)
	}
	for path, code := range map[string]int{
		"/price":                              http.StatusBadRequest,
		"/price?isbn=0":                       http.StatusNotFound,
		"/price?isbn=9780441013593&qty=0":     http.StatusBadRequest,
		"/price?isbn=9780441013593&qty=x":     http.StatusBadRequest,
		"/recommend?isbn=9780441013593&n=100": http.StatusBadRequest,
		"/nowhere":                            http.StatusNotFound,
	} {
		s.mustGet(path, code)
	}
	st := s.status()
	if len(st.Slots) != 4 || len(st.Stack) != 0 {
		t.Errorf("status = %+v, want 4 slots on their baselines", st)
	}
}

// TestSamplePatches applies every script of patches.sample, as the README
// tour does, and checks what each changes.
func TestSamplePatches(t *testing.T) {
	t.Parallel()
	s := start(t)
	samples, err := filepath.Glob("patches.sample/*.go")
	if err != nil || len(samples) < 3 {
		t.Fatalf("samples %v, %v", samples, err)
	}
	for _, p := range samples {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s.write(filepath.Base(p), src)
	}
	s.waitFor("every sample to apply", func() bool { return len(s.status().Stack) == len(samples) })

	if got := s.greet("ada"); got != "Welcome to Inkwell Books, Ada!" {
		t.Errorf("greet = %q", got)
	}
	if got := s.greet(""); got != "Welcome to Inkwell Books, stranger!" {
		t.Errorf("greet stranger = %q", got)
	}
	var q shop.Quote
	if err := json.Unmarshal([]byte(s.mustGet("/price?isbn=9780441013593&qty=10", http.StatusOK)), &q); err != nil {
		t.Fatal(err)
	}
	if q.Discount != 550+2088 || q.Total != 10990-550-2088 || !strings.Contains(q.Note, "science-fiction week") {
		t.Errorf("sf price = %+v", q)
	}
	if err := json.Unmarshal([]byte(s.mustGet("/price?isbn=9780547928227&qty=1", http.StatusOK)), &q); err != nil || q.Discount != 0 {
		t.Errorf("fantasy price = %+v, %v", q, err)
	}
	var books []shop.Book
	if err := json.Unmarshal([]byte(s.mustGet("/books?q=sf+gibson", http.StatusOK)), &books); err != nil || len(books) != 1 || books[0].Title != "Neuromancer" {
		t.Errorf("search = %+v, %v", books, err)
	}
	if err := json.Unmarshal([]byte(s.mustGet("/recommend?isbn=9780441013593&n=2", http.StatusOK)), &books); err != nil || len(books) != 2 || books[0].Title != "Foundation" {
		t.Errorf("recommend = %+v, %v", books, err)
	}
}

// TestHotReloadUnderLoad writes 50 successive versions of a script while
// 16 clients call it: no request fails, every version is served in turn,
// no client sees a version older than one it saw before, and removing the
// script brings the baseline back.
func TestHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	const clients, versions = 16, 50
	s := start(t)
	re := regexp.MustCompile(`^(?:v(\d+) )?hello, client(\d+)$`)

	var (
		stop     atomic.Bool
		requests atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, clients)
		seen     [clients]atomic.Int64 // the newest version each client has seen
	)
	for c := range clients {
		wg.Go(func() {
			name := fmt.Sprintf("client%d", c)
			for !stop.Load() {
				code, body, err := s.get("/greet?name=" + name)
				requests.Add(1)
				if err != nil || code != http.StatusOK {
					errs <- fmt.Errorf("%s: %d %q, %v", name, code, body, err)
					return
				}
				m := re.FindStringSubmatch(body)
				if m == nil || m[2] != strconv.Itoa(c) {
					errs <- fmt.Errorf("%s: unexpected body %q", name, body)
					return
				}
				v, _ := strconv.Atoi(m[1]) // "" for the baseline: version 0
				if prev := seen[c].Load(); int64(v) < prev {
					errs <- fmt.Errorf("%s: got version %d after version %d", name, v, prev)
					return
				}
				seen[c].Store(int64(v))
			}
		})
	}
	start := time.Now()
	for v := 1; v <= versions; v++ {
		s.write("greet.go", greetVersion(v))
		want := fmt.Sprintf("v%d hello, probe", v)
		s.waitFor(fmt.Sprintf("version %d to serve", v), func() bool {
			select {
			case err := <-errs:
				errs <- err
				return true // fail below
			default:
			}
			return s.greet("probe") == want
		})
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d versions in %v (%v per version, debounce included) under %d requests",
		versions, elapsed.Round(time.Millisecond), (elapsed / versions).Round(time.Millisecond), requests.Load())

	if err := os.Remove(filepath.Join(s.dir, "greet.go")); err != nil {
		t.Fatal(err)
	}
	s.waitGreet("ada", "hello, ada")
	if st := s.status(); len(st.Stack) != 0 {
		t.Errorf("stack after removal = %+v", st.Stack)
	}
}

// TestBadScripts replaces a working script with broken ones: each is
// refused with an error that names the file (and the line, where there is
// one), and the working version keeps serving throughout.
func TestBadScripts(t *testing.T) {
	t.Parallel()
	s := start(t, "-eval-timeout", "500ms")
	path := s.write("greet.go", greetVersion(1))
	s.waitGreet("ada", "v1 hello, ada")

	const head = "package patch\n\n"
	for _, tc := range []struct {
		name    string
		content []byte
		where   string // after the path: ":line:col" or "" for the whole file
		msg     string
	}{
		{"syntax error", []byte(head + "//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn \"hi \" + name +\n}\n"), ":6:1", "syntax error: expected operand"},
		{"unknown slot", []byte(head + "//hotpatch:slot example.Greeting\nfunc Greet(name string) string { return name }\n"), ":3:1", "hotswap: no such slot: example.Greeting"},
		{"wrong signature", []byte(head + "//hotpatch:slot example.Greet\nfunc Greet(n int) string { return \"\" }\n"), ":3:1", "implementation has type func(int) string, slot has type func(string) string"},
		{"refused import", []byte(head + "import \"os/exec\"\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return exec.Command(name).String() }\n"), ":3:8", `import refused by the import policy: "os/exec"`},
		{"panic during eval", []byte(head + "func init() {\n\tpanic(\"boom\")\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return name }\n"), ":4:2", "top-level code panicked: panic: boom"},
		{"endless loop at top level", []byte(head + "func init() {\n\tfor {\n\t}\n}\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return name }\n"), ":3:1", "did not finish in time"},
		{"empty file", nil, ":1:1", "empty file"},
		{"binary garbage", []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00\x01\x00\x00\x00"), ":1:8", "binary file"},
		{"non-UTF-8", []byte(head + "// Gr\xfc\xdfe\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return name }\n"), ":3:6", "not valid UTF-8"},
		{"10 MB file", append(greetVersion(3), bytes.Repeat([]byte("// padding\n"), 10<<20/11)...), "", "file too large"},
	} {
		s.write("greet.go", tc.content)
		want := path + tc.where + ": "
		s.waitFor(tc.name+" to be refused", func() bool {
			for _, e := range s.status().Events {
				if e.Type == "rejected" && e.Source == path && strings.Contains(e.Err, tc.msg) {
					if !strings.Contains(e.Err, want) {
						t.Errorf("%s: error %q does not name %s", tc.name, e.Err, strings.TrimSuffix(want, ": "))
					}
					return true
				}
			}
			return false
		})
		if got := s.greet("ada"); got != "v1 hello, ada" {
			t.Errorf("after %s: greet = %q, want the previous version", tc.name, got)
		}
	}
	s.write("greet.go", greetVersion(4))
	s.waitGreet("ada", "v4 hello, ada")
}

// TestPanicRollsBack serves a script that panics for some names: the
// middleware answers 500 and reports each panic, and the manager rolls the
// patch back after three.
func TestPanicRollsBack(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.write("greet.go", []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn \"hi \" + name[:3]\n}\n"))
	s.waitGreet("ada", "hi ada")
	for range 3 {
		s.mustGet("/greet?name=al", http.StatusInternalServerError)
	}
	s.waitFor("the rollback", func() bool {
		for _, e := range s.status().Events {
			if e.Type == "rolled-back" && strings.Contains(e.Err, "3 failures") {
				return true
			}
		}
		return false
	})
	if got := s.greet("al"); got != "hello, al" {
		t.Errorf("after the rollback greet = %q, want the baseline", got)
	}
	if !strings.Contains(s.logs.String(), "greet.go:5:") {
		t.Errorf("the log does not show where the script panicked")
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	if err := run(context.Background(), []string{"-nope"}, &out, &out, nil); err == nil {
		t.Error("an unknown flag was accepted")
	}
	if err := run(context.Background(), []string{"-patches", t.TempDir(), "extra"}, &out, &out, nil); err == nil {
		t.Error("an extra argument was accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-patches", file}, &out, &out, nil); err == nil {
		t.Error("a file was accepted as the patch directory")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMain checks that no goroutine outlives the tests: the server, the
// watch, the manager and the interpreters all stop with run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
