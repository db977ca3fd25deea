package script_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// env is a registry with a few slots and a directory for scripts.
type env struct {
	t      *testing.T
	reg    *registry.Registry
	greet  *registry.Func[func(name string) string]
	dir    string
	stderr *syncBuffer
	host   *testHost // the host of loads made without a manager
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := registry.New()
	return &env{
		t:      t,
		reg:    reg,
		greet:  registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name }),
		dir:    t.TempDir(),
		stderr: &syncBuffer{},
		host:   &testHost{reg: reg},
	}
}

// testHost is a hotswap.Host over a registry, for loads that no manager
// applies; failure reports go to report, if set.
type testHost struct {
	reg    *registry.Registry
	mu     sync.Mutex // guards report
	report func(slot string, err error)
}

func (h *testHost) onReport(f func(slot string, err error)) {
	h.mu.Lock()
	h.report = f
	h.mu.Unlock()
}

func (h *testHost) Slot(name string) (registry.Slot, bool) { return h.reg.Lookup(name) }
func (h *testHost) ReportFailure(slot string, err error) {
	h.mu.Lock()
	f := h.report
	h.mu.Unlock()
	if f != nil {
		f(slot, err)
	}
}
func (h *testHost) RollBack(context.Context, string, error) error { return nil }
func (h *testHost) Record(hotswap.Event) error                    { return nil }
func (h *testHost) Logger() *slog.Logger                          { return slog.New(slog.DiscardHandler) }

// loader returns a script loader for e's registry; the interpreter's
// stderr goes to e.stderr unless opts says otherwise.
func (e *env) loader(opts script.Options) *script.Loader {
	if opts.Stderr == nil {
		opts.Stderr = e.stderr
	}
	return script.New(opts)
}

// write writes a script into e's directory and returns its path.
func (e *env) write(name, src string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// greetScript returns a script for example.Greet that answers with body,
// a Go expression of name.
func greetScript(body string) string {
	return "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn " + body + "\n}\n"
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
