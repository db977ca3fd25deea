package journal_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// Two builds of testdata/server, made once in TestMain: the same
// program, told apart by a linker flag, so each is its own baseline.
var (
	build1, build2 string
	buildErr       error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "journal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build1, build2 = filepath.Join(dir, "server1"), filepath.Join(dir, "server2")
	buildErr = testbuild.Build(".", build1, "./testdata/server")
	if buildErr == nil {
		buildErr = testbuild.Build(".", build2, "./testdata/server", "-ldflags=-X main.build=2")
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is one run of the test program.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{} // closed when the process exited
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run starts bin and waits for its ready line; it fails the test if the
// process exits first.
func run(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p, err := tryRun(t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tryRun(t *testing.T, bin string, args ...string) (*proc, error) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := &proc{cmd: exec.Command(bin, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
		p.cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case line, ok := <-lines:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("exited before ready (%v): %s", p.cmd.ProcessState, p.stderr.String())
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "ready" {
			return nil, fmt.Errorf("unexpected first line %q", line)
		}
		p.addr = f[1]
	case <-time.After(60 * time.Second): // a hang detector
		return nil, fmt.Errorf("not ready within 60s: %s", p.stderr.String())
	}
	return p, nil
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body)
}

func (p *proc) stack(t *testing.T) []string {
	t.Helper()
	var ids []string
	if err := json.Unmarshal([]byte(p.get(t, "/stack")), &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

type event struct{ Type, PatchID, Err string }

func (p *proc) events(t *testing.T, typ string) []event {
	t.Helper()
	var all []event
	if err := json.Unmarshal([]byte(p.get(t, "/events")), &all); err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(e event) bool { return e.Type != typ })
}

func (p *proc) waitStack(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	waitFor(t, func() bool { got = p.stack(t); return len(got) == n })
	return got
}

func scriptFile(t *testing.T, dir, name, says string) string {
	t.Helper()
	return writeFile(t, dir, name, fmt.Sprintf("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string { return %q + name }\n", says))
}

func dirs(t *testing.T) (patches, state string) {
	t.Helper()
	root := t.TempDir()
	patches = filepath.Join(root, "patches")
	if err := os.Mkdir(patches, 0o755); err != nil {
		t.Fatal(err)
	}
	return patches, filepath.Join(root, "state")
}

// TestKill9KeepsTheStack kills the server right after an apply and
// starts the same binary again: the same patch stack serves, from the
// patch directory and from the copy of a patch applied from elsewhere,
// whose file is gone by then.
func TestKill9KeepsTheStack(t *testing.T) {
	t.Parallel()
	patches, state := dirs(t)
	scriptFile(t, patches, "a.go", "A, ")
	p := run(t, build1, "-dir", patches, "-state", state)
	p.waitStack(t, 1)
	outside := scriptFile(t, t.TempDir(), "b.go", "B, ")
	p.get(t, "/apply?path="+url.QueryEscape(outside)) // returns once the journal has it
	want := p.stack(t)
	p.kill()
	os.Remove(outside)

	p = run(t, build1, "-dir", patches, "-state", state)
	if got := p.stack(t); !slices.Equal(got, want) { // applied before ready
		t.Fatalf("after kill -9 and restart: stack %v, want %v", got, want)
	}
	if got := p.get(t, "/greet"); got != "B, x" {
		t.Fatalf("greet %q, want B, x", got)
	}
	p.get(t, "/sync")
	if rej := p.events(t, "rejected"); len(rej) != 0 {
		t.Fatalf("rejections: %v", rej)
	}
	// The directory's a.go was not applied a second time.
	if got := p.stack(t); !slices.Equal(got, want) {
		t.Fatalf("stack %v after the watch started, want %v", got, want)
	}
}

// TestNewBuildSupersedes steps to a new build: the patch is superseded
// (reported once) and not applied, also from the directory; the old
// build restarted applies it again.
func TestNewBuildSupersedes(t *testing.T) {
	t.Parallel()
	patches, state := dirs(t)
	scriptFile(t, patches, "a.go", "A, ")
	p := run(t, build1, "-dir", patches, "-state", state)
	a := p.waitStack(t, 1)
	p.get(t, "/sync")
	p.kill()

	p = run(t, build2, "-dir", patches, "-state", state)
	sup := p.events(t, "superseded")
	if len(sup) != 1 || sup[0].PatchID != a[0] {
		t.Fatalf("superseded events %v, want one for %s", sup, a[0])
	}
	// A new file applies; a.go stays unapplied, and applies after it
	// changes.
	b := scriptFile(t, patches, "b.go", "B, ")
	p.waitStack(t, 1)
	if got := p.get(t, "/greet"); got != "B, x" {
		t.Fatalf("greet %q, want B, x", got)
	}
	p.get(t, "/sync")
	p.kill()

	p = run(t, build2, "-dir", patches, "-state", state)
	if sup := p.events(t, "superseded"); len(sup) != 0 {
		t.Fatalf("superseded reported again: %v", sup)
	}
	if got := p.stack(t); len(got) != 1 || !strings.HasPrefix(got[0], "b.go-") {
		t.Fatalf("restart of build 2: stack %v, want b.go's patch", got)
	}
	os.Remove(b)
	scriptFile(t, patches, "a.go", "A2, ")
	waitFor(t, func() bool { return p.get(t, "/greet") == "A2, x" })
	p.kill()

	// The first build again: its own record is applied again.
	scriptFile(t, patches, "a.go", "A, ")
	p = run(t, build1, "-dir", patches, "-state", state)
	if got := p.stack(t); !slices.Equal(got, a) {
		t.Fatalf("build 1 restarted: stack %v, want %v", got, a)
	}
}

func TestCarryForwardAcrossBuilds(t *testing.T) {
	t.Parallel()
	patches, state := dirs(t)
	p := run(t, build1, "-dir", patches, "-state", state)
	id := p.get(t, "/apply?path="+url.QueryEscape(scriptFile(t, t.TempDir(), "c.go", "C, ")))
	p.kill()
	p = run(t, build2, "-dir", patches, "-state", state, "-carry")
	if got := p.stack(t); !slices.Equal(got, []string{id}) {
		t.Fatalf("carried forward: stack %v, want [%s]", got, id)
	}
}

func TestCorruptJournalStartsOnTheBaseline(t *testing.T) {
	t.Parallel()
	patches, state := dirs(t)
	p := run(t, build1, "-dir", patches, "-state", state)
	p.get(t, "/apply?path="+url.QueryEscape(scriptFile(t, t.TempDir(), "c.go", "C, ")))
	p.kill()
	path := filepath.Join(state, "journal")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[10] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p = run(t, build1, "-dir", patches, "-state", state)
	if got := p.stack(t); len(got) != 0 {
		t.Fatalf("stack %v, want the baseline", got)
	}
	if got := p.get(t, "/greet"); got != "hello, x" {
		t.Fatalf("greet %q, want the baseline's", got)
	}
	ev := p.events(t, "journal-corrupt")
	if len(ev) != 1 || !strings.Contains(ev[0].Err, "checksum mismatch") {
		t.Fatalf("corrupt events %v, want one saying why", ev)
	}
	if log := p.stderr.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "moved aside") {
		t.Fatalf("the log does not say why:\n%s", log)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
}

func TestUnsafeStateDirIsAnErrorAtStart(t *testing.T) {
	t.Parallel()
	patches, state := dirs(t)
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := tryRun(t, build1, "-dir", patches, "-state", state)
	if err == nil || !strings.Contains(err.Error(), "group or others may write it") {
		t.Fatalf("start with a world-writable state directory: %v", err)
	}
}
