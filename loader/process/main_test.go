//go:build linux

package process

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
	"github.com/hotpatch-go/hotpatch/registry"
	"go.uber.org/goleak"
)

// fixtureBin is the plugin executable built once by TestMain from
// testdata/fixture; tests link it under the names that pick its behaviour.
var fixtureBin string

// envHelper re-runs the test binary as a helper process (see orphan_test.go).
const envHelper = "HOTPATCH_PROCESS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(helperMain(mode))
	}
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run()) // fuzz workers run FuzzDecode only: no fixture
	}
	dir, err := os.MkdirTemp("", "hotpatch-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureBin = filepath.Join(dir, "fixture")
	stockBin = filepath.Join(dir, "stock")
	if err = testbuild.Build(".", fixtureBin, "./testdata/fixture"); err == nil {
		err = testbuild.Build(".", stockBin, "./testdata/stock")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
		if kids := children(); len(kids) > 0 {
			fmt.Fprintln(os.Stderr, "processes left over:", kids)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixtureAs links the fixture executable into a temporary directory under
// name and returns its path.
func fixtureAs(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.Link(fixtureBin, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// testSlots are the slots every test registry has, matching the fixture.
type testSlots struct {
	greet       *registry.Func[func(string) string]
	log         *registry.Func[func(string)]
	stats       *registry.Func[func(fixture.Input) (fixture.Output, error)]
	div         *registry.Func[func(int, int) (int, error)]
	sleep       *registry.Func[func(context.Context, time.Duration) (string, error)]
	deadline    *registry.Func[func(context.Context) (time.Duration, bool)]
	canceled    *registry.Func[func(context.Context, string) string]
	wasCanceled *registry.Func[func(string) bool]
	handler     *registry.Func[func(http.ResponseWriter, *http.Request)]
	handlerFunc *registry.Func[http.HandlerFunc]
	panicky     *registry.Func[func(string) (string, error)]
	panicNoErr  *registry.Func[func(string) string]
	hang        *registry.Func[func(context.Context) error]
	exit        *registry.Func[func(int) int]
	pid         *registry.Func[func() int]
	variadic    *registry.Func[func(string, ...int) string]
	echo        *registry.Func[func([]byte) []byte]
	slow        *registry.Func[func(time.Duration) string]
	spawn       *registry.Func[func(string) (int, error)]
	flood       *registry.Func[func(int, int) int]
}

func newTestRegistry() (*registry.Registry, *testSlots) {
	r := registry.New()
	s := &testSlots{
		greet:       registry.MustRegister(r, "test.Greet", func(name string) string { return "hello baseline, " + name }),
		log:         registry.MustRegister(r, "test.Log", func(string) {}),
		stats:       registry.MustRegister(r, "test.Stats", func(fixture.Input) (fixture.Output, error) { return fixture.Output{}, nil }),
		div:         registry.MustRegister(r, "test.Div", func(a, b int) (int, error) { return 0, nil }),
		sleep:       registry.MustRegister(r, "test.Sleep", func(context.Context, time.Duration) (string, error) { return "baseline", nil }),
		deadline:    registry.MustRegister(r, "test.Deadline", func(context.Context) (time.Duration, bool) { return 0, false }),
		canceled:    registry.MustRegister(r, "test.Canceled", func(context.Context, string) string { return "" }),
		wasCanceled: registry.MustRegister(r, "test.WasCanceled", func(string) bool { return false }),
		handler:     registry.MustRegister(r, "test.Handler", func(w http.ResponseWriter, r *http.Request) {}),
		handlerFunc: registry.MustRegister(r, "test.HandlerFunc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})),
		panicky:     registry.MustRegister(r, "test.Panic", func(s string) (string, error) { return s, nil }),
		panicNoErr:  registry.MustRegister(r, "test.PanicNoErr", func(s string) string { return s }),
		hang:        registry.MustRegister(r, "test.Hang", func(context.Context) error { return nil }),
		exit:        registry.MustRegister(r, "test.Exit", func(int) int { return 0 }),
		pid:         registry.MustRegister(r, "test.PID", func() int { return 0 }),
		variadic:    registry.MustRegister(r, "test.Variadic", func(string, ...int) string { return "" }),
		echo:        registry.MustRegister(r, "test.Echo", func(b []byte) []byte { return b }),
		slow:        registry.MustRegister(r, "test.Slow", func(time.Duration) string { return "baseline" }),
		spawn:       registry.MustRegister(r, "test.Spawn", func(string) (int, error) { return 0, nil }),
		flood:       registry.MustRegister(r, "test.Flood", func(int, int) int { return 0 }),
	}
	return r, s
}

// env is a registry, a manager and a loader wired together, closed at the
// end of the test (manager first, so that patches retire gracefully).
type env struct {
	reg  *registry.Registry
	s    *testSlots
	mgr  *hotswap.Manager
	l    *Loader
	logs *syncBuffer
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	reg, s := newTestRegistry()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := hotswap.New(reg, hotswap.Options{Logger: logger, Rollback: hotswap.RollbackPolicy{Failures: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = logger
	}
	l := New(opts)
	t.Cleanup(func() {
		l.Close(context.Background())
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return &env{reg: reg, s: s, mgr: mgr, l: l, logs: logs}
}

// apply loads the fixture under name and applies it.
func (e *env) apply(t testing.TB, name string) hotswap.Patch {
	t.Helper()
	p, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	if _, err := e.mgr.Apply(context.Background(), p); err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// children returns the pids of this process's live child processes.
func children() []int {
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == self && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStarted waits until a call of slot has started in the plugin process
// pid: the fixture logs a line when it has (see its started).
func waitStarted(t testing.TB, e *env, slot string, pid int) {
	t.Helper()
	line := fmt.Sprintf("fixture: %s started in %d", slot, pid)
	eventually(t, 30*time.Second, "a call of "+slot+" to start in process "+strconv.Itoa(pid), func() bool {
		return strings.Contains(e.logs.String(), line)
	})
}

// versionOf returns the live version with the given patch ID.
func (l *Loader) versionOf(id string) *version {
	l.mu.Lock()
	defer l.mu.Unlock()
	for v := range l.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}
