package script_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
	}
}

// loader returns a script loader for e's registry; the interpreter's
// stderr goes to e.stderr unless opts says otherwise.
func (e *env) loader(opts script.Options) *script.Loader {
	if opts.Stderr == nil {
		opts.Stderr = e.stderr
	}
	return script.New(e.reg, opts)
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
