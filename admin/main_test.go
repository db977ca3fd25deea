package admin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"github.com/hotpatch-go/hotpatch/registry"
)

// serverBin is the test server (testdata/server), built once in TestMain.
var serverBin string

func TestMain(m *testing.M) {
	if sock := os.Getenv("ADMIN_TEST_CLIENT"); sock != "" {
		// Run as another user by TestUnixOtherUID: print the status of a
		// status request.
		resp, err := unixClient(sock).Get("http://admin" + api.PathStatus)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(0)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
		os.Exit(0)
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "admin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "server")
	if err := testbuild.Build("testdata/server", serverBin, "."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// key signs the tests' bundles.
var key = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// script returns a signed script bundle for example.Greet that answers
// "<word> NAME".
func script(t testing.TB, id string, version uint64, word string, k ed25519.PrivateKey) []byte {
	t.Helper()
	src := "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"" + word + " \" + n }\n"
	var buf bytes.Buffer
	m := bundle.Manifest{ID: id, Version: version, Kind: "script", Slots: []bundle.Slot{{Name: "example.Greet"}}, Payload: bundle.Payload{Name: "greet.go"}}
	if _, err := bundle.Write(&buf, m, []byte(src), k); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fixture is a runtime with one slot, signed bundles, a state directory
// and the admin API.
type fixture struct {
	rt    *hotpatch.Runtime
	greet *registry.Func[func(string) string]
	sock  string
	state string
	logs  *syncBuffer
}

// shortDir is a temporary directory with a path short enough for a unix
// socket.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func start(t *testing.T, ao admin.Options) *fixture {
	t.Helper()
	d := shortDir(t)
	f := &fixture{state: filepath.Join(d, "state"), logs: &syncBuffer{}}
	if ao.Socket == "" && ao.TCP == "" {
		ao.Socket = filepath.Join(d, "s")
	}
	f.sock = ao.Socket
	ao.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	rt, err := hotpatch.New(hotpatch.Options{
		StateDir: f.state,
		Bundles:  &bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true},
		Admin:    &ao,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	f.greet = hotpatch.MustRegister(rt, "example.Greet", func(n string) string { return "hello " + n })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

// unixClient talks HTTP over the socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// call makes a request and decodes a JSON answer into out (if not nil);
// it returns the status and the error text of a refusal.
func call(t *testing.T, c *http.Client, base, method, path string, body []byte, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e api.Error
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode, ""
}

// audits returns the notes and errors of the audit events.
func audits(rt *hotpatch.Runtime) []string {
	var out []string
	for _, e := range rt.Manager().History() {
		if e.Type == api.EventAudit {
			s := e.Note
			if e.Err != nil {
				s += " err=" + e.Err.Error()
			}
			out = append(out, s)
		}
	}
	return out
}

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

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func newManager(t *testing.T) *hotswap.Manager {
	t.Helper()
	mgr, err := hotswap.New(registry.New(), hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return mgr
}
