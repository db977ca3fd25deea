package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// `hotpatch demo`: the tour of the README, run for you. It builds the
// example HTTP server as a baseline, starts it as a subprocess under a
// steady load, and patches it every way there is while counting the
// requests that fail (none should). It talks to the server the way an
// operator does: files in its patch directory, and the admin API through
// this command's own client.

// demoCommand is "hotpatch demo".
func demoCommand() *command {
	return &command{
		name:     "demo",
		summary:  "watch a server under load take every kind of patch",
		synopsis: "hotpatch demo [-short] [-clients N] [-v]",
		doc: `
Builds examples/httpserver as a baseline into a temporary directory,
starts it on a free loopback port with a patch directory, a state
directory and an admin socket of its own, sends it requests from a few
clients, and in turn: applies a script patch, a native patch (built
against the baseline), a process patch, a native patch that redirects a
function the server never registered, reverts that one through the admin
API, pushes a signed bundle through the admin API, takes a baseline step
(a restart into the binary with no request lost), and shows a patch with
a type error refused and a panicking patch rolled back. A line per step,
then a table: each step's time to serve, the requests sent during it and
how many failed (0 expected; the requests the demo sends to trigger the
panic are counted apart).

Run it from a checkout of hotpatch: it builds the example from source.
The first native build compiles the dependencies again in plugin mode,
which can take minutes; later runs reuse the build cache. -short skips
the native and process builds. Everything it starts and writes goes away
at the end, on Ctrl-C too. Exit status 0 when every step did what it
shows and no request failed, 1 otherwise.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var opts demoOptions
			fs.BoolVar(&opts.Short, "short", false, "skip the steps that build native and process patches")
			fs.IntVar(&opts.Clients, "clients", 4, "the `number` of clients sending requests")
			verbose := fs.Bool("v", false, "copy the server's log to standard error")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if len(args) > 0 {
					return usageError("no arguments wanted")
				}
				if opts.Clients < 1 || opts.Clients > 256 {
					return usageError("-clients %d: want 1 to 256", opts.Clients)
				}
				if *verbose {
					opts.ServerLog = stderr
				}
				opts.Progress = isTerminal(stdout)
				return runTour(ctx, opts, stdout)
			}
		},
	}
}

// demoOptions configure a run of the demo.
type demoOptions struct {
	Short     bool      // no native or process step
	Clients   int       // the load's clients
	ServerLog io.Writer // the server's log, copied; nil discards
	Progress  bool      // a spinner during builds (stdout is a terminal)
	Root      string    // the hotpatch checkout; "" finds it from the current directory
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// stepResult is one row of the closing table.
type stepResult struct {
	name, kind string
	took       time.Duration // time to serve (or to refuse, to roll back)
	requests   int64         // of the load, during the step
	failed     int64
	note       string
}

// demoRun is one run: what it built and started.
type demoRun struct {
	opts    demoOptions
	out     io.Writer
	root    string // the hotpatch checkout
	tmp     string // everything the run writes
	build   string // tmp/build: patches built, before they are dropped in
	patches string // the server's patch directory
	bin     string // the baseline: the link tmp/bin/httpserver
	key     string // the signing key; key.pub is trusted by the server
	srv     *demoServer
	hc      *http.Client
	admin   *client
	base    string // http://host:port
	load    *load
	results []stepResult
}

// demoStep is one step of the tour.
type demoStep struct {
	name, kind string
	// run does the step: it returns the time to serve, counted from the
	// moment the change was delivered, and a note for the table.
	run func(ctx context.Context, d *demoRun) (time.Duration, string, error)
}

// runTour runs the demo, writing its lines and table to out.
func runTour(ctx context.Context, opts demoOptions, out io.Writer) (err error) {
	if !demoSupported {
		return errors.New("the demo needs a unix system (linux, for the native steps): it runs the example's baseline step and stops the server's process group")
	}
	d := &demoRun{opts: opts, out: out}
	if d.root, err = demoRoot(ctx, opts.Root); err != nil {
		return err
	}
	if d.tmp, err = os.MkdirTemp("", "hotpatch-demo-"); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(d.tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", d.tmp, rerr)
		}
	}()
	d.build = filepath.Join(d.tmp, "build")
	d.patches = filepath.Join(d.tmp, "patches")
	d.bin = filepath.Join(d.tmp, "bin", "httpserver")
	d.key = filepath.Join(d.tmp, "keys", "demo")
	for _, dir := range []string{d.build, d.patches, filepath.Dir(d.key)} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "hotpatch demo: working in %s (removed at the end)\n", d.tmp)

	// The baseline: `hotpatch build -versioned`, as the README does it.
	var buildLog bytes.Buffer
	took, err := d.progress(ctx, "building the example server as a baseline", func(ctx context.Context) error {
		return runVersionedBuild(ctx, patchbuild.BaselineOptions{Package: "./examples/httpserver", Output: d.bin, Dir: d.root}, &buildLog, &buildLog)
	})
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted while building the baseline: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("building the baseline: %w\n%s", err, buildLog.String())
	}
	fmt.Fprintf(out, "baseline built in %s: %s", round(took), lastLines(buildLog.String(), 2))

	pub, err := bundle.GenerateKey(d.key)
	if err != nil {
		return err
	}
	sock := filepath.Join(d.tmp, "admin.sock")
	args := []string{"-addr", "127.0.0.1:0", "-patches", d.patches, "-admin-socket", sock, "-trust", d.key + ".pub",
		"-debounce", "20ms", "-rollback-after", "3"}
	d.srv, err = startDemoServer(ctx, d.bin, args, opts.ServerLog)
	if err != nil {
		return err
	}
	defer d.srv.stop()
	d.base = "http://" + d.srv.addr
	d.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients + 2}}
	defer d.hc.CloseIdleConnections()
	rf := remoteFlags{addr: "unix://" + sock}
	if d.admin, err = rf.client(); err != nil {
		return err
	}
	defer d.admin.http.CloseIdleConnections()
	fmt.Fprintf(out, "server pid %d serving on %s, patch directory %s, admin socket %s, trusting key %s\n",
		d.srv.pgid, d.srv.addr, d.patches, sock, bundle.KeyIDOf(pub))
	d.load = startLoad(ctx, d.hc, d.base, opts.Clients)
	defer d.load.stop()
	fmt.Fprintf(out, "%d clients send GET %s and GET %s without pause\n\n", opts.Clients, demoGreetPath, demoPricePath)

	steps := demoSteps(opts.Short)
	var failed error
	for i, s := range steps {
		total0, failed0 := d.load.counts()
		took, note, err := s.run(ctx, d)
		total1, failed1 := d.load.counts()
		r := stepResult{name: s.name, kind: s.kind, took: took, requests: total1 - total0, failed: failed1 - failed0, note: note}
		d.results = append(d.results, r)
		mark := "ok  "
		switch {
		case ctx.Err() != nil:
			mark = "stop"
		case err != nil || r.failed > 0:
			mark = "FAIL"
		}
		fmt.Fprintf(out, "[%d/%d] %s %-9s %-8s %8s  %6d requests, %d failed  %s\n", i+1, len(steps), mark, s.name, s.kind, round(took), r.requests, r.failed, note)
		if ctx.Err() != nil {
			failed = fmt.Errorf("interrupted during step %s: %w", s.name, ctx.Err())
			break
		}
		if err != nil {
			failed = fmt.Errorf("step %s: %w\nthe server's log ends:\n%s", s.name, err, d.srv.tail)
			break
		}
	}
	d.load.stop()
	d.table()
	total, nfailed := d.load.counts()
	switch {
	case failed != nil:
		return failed
	case nfailed > 0:
		return fmt.Errorf("%d of %d requests failed; the last: %s\nthe server's log ends:\n%s", nfailed, total, *d.load.lastErr.Load(), d.srv.tail)
	}
	fmt.Fprintf(out, "\n%d requests, 0 failed. Stopping the server and removing %s.\n", total, d.tmp)
	return nil
}

// table prints the closing table.
func (d *demoRun) table() {
	fmt.Fprintln(d.out)
	tw := tabwriter.NewWriter(d.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tTIME TO SERVE\tREQUESTS\tFAILED\tWHAT HAPPENED")
	for _, r := range d.results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.name, r.kind, round(r.took), r.requests, r.failed, r.note)
	}
	tw.Flush()
}

// round shortens d for a reader.
func round(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Microsecond).String()
	}
}

// lastLines returns the last n lines of s, joined by "; ", with a newline.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "; ") + "\n"
}

// demoRoot finds the hotpatch checkout: root, or the module of the
// current directory.
func demoRoot(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}}\t{{.Dir}}")
	cmd.Dir = root
	out, err := cmd.Output()
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if err != nil || path != hotpatchModule {
		return "", fmt.Errorf("the demo builds examples/httpserver from source: run it from a checkout of %s (go list -m says %q, %v)", hotpatchModule, strings.TrimSpace(string(out)), err)
	}
	return dir, nil
}

// progress runs fn, showing a spinner on a terminal and a line before and
// after elsewhere; it returns how long fn took.
func (d *demoRun) progress(ctx context.Context, what string, fn func(ctx context.Context) error) (time.Duration, error) {
	start := time.Now()
	if !d.opts.Progress {
		fmt.Fprintf(d.out, "%s ...\n", what)
		err := fn(ctx)
		return time.Since(start), err
	}
	done := make(chan struct{})
	spun := make(chan struct{})
	go func() {
		defer close(spun)
		frames := `|/-\`
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(d.out, "\r%c %s (%s)   ", frames[i%len(frames)], what, time.Since(start).Round(time.Second))
			select {
			case <-done:
				fmt.Fprintf(d.out, "\r%s\r", strings.Repeat(" ", len(what)+20))
				return
			case <-t.C:
			}
		}
	}()
	err := fn(ctx)
	close(done)
	<-spun
	return time.Since(start), err
}

// install drops file into the patch directory as name, with mode perm:
// written under a hidden name, then renamed, so the watcher never sees
// half a file. It returns the moment of the rename.
func (d *demoRun) install(data []byte, name string, perm os.FileMode) (time.Time, error) {
	tmp := filepath.Join(d.patches, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return time.Time{}, err
	}
	t := time.Now()
	if err := os.Rename(tmp, filepath.Join(d.patches, name)); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// installFile installs the file src as name, with its mode (a process
// patch is an executable).
func (d *demoRun) installFile(src, name string) (time.Time, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return time.Time{}, err
	}
	return d.install(data, name, fi.Mode().Perm()&0o755)
}

// remove takes name out of the patch directory.
func (d *demoRun) remove(name string) error {
	return os.Remove(filepath.Join(d.patches, name))
}

// sample is the path of a file of the example.
func (d *demoRun) sample(rel string) string {
	return filepath.Join(d.root, "examples", "httpserver", filepath.FromSlash(rel))
}

// awaitBody waits until GET path answers 200 with a body that want
// accepts.
func (d *demoRun) awaitBody(ctx context.Context, path, what string, want func(body string) bool) (string, error) {
	var body string
	err := await(ctx, time.Minute, what, func(ctx context.Context) error {
		b, err := get(ctx, d.hc, d.base+path)
		if err != nil {
			return fmt.Errorf("%w: %v", errNotYet, err)
		}
		if !want(b) {
			return fmt.Errorf("%w: GET %s answered %q", errNotYet, path, strings.TrimSpace(b))
		}
		body = b
		return nil
	})
	return strings.TrimSpace(body), err
}

// awaitGreeting waits until GET /greet answers with a body that holds
// want.
func (d *demoRun) awaitGreeting(ctx context.Context, want string) (string, error) {
	return d.awaitBody(ctx, demoGreetPath, "the greeting "+fmt.Sprintf("%q", want), func(b string) bool { return strings.Contains(b, want) })
}

// awaitDiscount waits until the load's bulk price has the discount want
// (in cents).
func (d *demoRun) awaitDiscount(ctx context.Context, want int64) error {
	_, err := d.awaitBody(ctx, demoPricePath, fmt.Sprintf("a discount of %d cents", want), func(b string) bool {
		var q struct{ Discount int64 }
		return json.Unmarshal([]byte(b), &q) == nil && q.Discount == want
	})
	return err
}

// call calls the admin API and decodes its answer into out.
func (d *demoRun) call(ctx context.Context, method, path string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	data, err := d.admin.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// awaitEvent waits until the server's history holds an event of type typ
// for a patch from the file name, recorded after since.
func (d *demoRun) awaitEvent(ctx context.Context, typ, name string, since time.Time) (api.Event, error) {
	var found api.Event
	err := await(ctx, time.Minute, fmt.Sprintf("a %s event for %s", typ, name), func(ctx context.Context) error {
		var h api.History
		if err := d.call(ctx, "GET", api.PathHistory, nil, &h); err != nil {
			return err
		}
		for _, e := range h.Events {
			if e.Type == typ && filepath.Base(e.Source) == name && !e.Time.Before(since.Add(-time.Second)) {
				found = e
				return nil
			}
		}
		return errNotYet
	})
	return found, err
}

// patchFrom returns the ID of the applied patch from the file name.
func (d *demoRun) patchFrom(ctx context.Context, name string) (string, error) {
	var st api.Status
	if err := d.call(ctx, "GET", api.PathStatus, nil, &st); err != nil {
		return "", err
	}
	for _, p := range st.Stack {
		if filepath.Base(p.Source) == name {
			return p.ID, nil
		}
	}
	return "", fmt.Errorf("no applied patch comes from %s", name)
}
