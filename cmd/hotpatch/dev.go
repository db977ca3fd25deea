package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// devCommand is "hotpatch dev".
func devCommand() *command {
	return &command{
		name:     "dev",
		summary:  "run a server, hot-patch what can be, restart for the rest",
		synopsis: "hotpatch dev [--patch-flag=-patches] [--poll 100ms] [--debounce 80ms] [--wait 2m] DIR [-- server args]",
		doc: `
Builds the main package in DIR as a patchable baseline (hotpatch build's
defaults, -versioned, into a private temporary directory), starts it with
the server args and a private patch directory (passed as --patch-flag DIR),
and watches the .go files of its module (and go.mod, go.sum); test files,
editors' temporary files, testdata, vendor and hidden directories are
ignored. After each save, once the files stay unchanged for --debounce:

  hot (script)   only bodies of functions marked //hotpatch:slot NAME
                 changed, and each new body reaches nothing but exported
                 names of imported packages: the bodies become one script
                 per slot in the patch directory; no restart, state kept.
  hot (native)   the same, for a body the interpreter cannot run or
                 reach (an unexported name of its package, reached
                 through export shims the baseline is built with): a Go
                 plugin built against the running baseline.
  baseline step  anything else: the baseline is rebuilt and the server
                 sent SIGHUP; it restarts into the new binary with no
                 request failing. The line says why the edit was not hot.

A syntax or type error is shown with module-relative positions and the
old code keeps serving. The server's output is passed through, prefixed.
Ctrl-C stops the server and removes the temporary directory. Linux only.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
			var o devOptions
			fs.StringVar(&o.patchFlag, "patch-flag", "-patches", "the server's `flag` that names its patch directory")
			fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often the module's files are checked")
			fs.DurationVar(&o.debounce, "debounce", 80*time.Millisecond, "how long the files must stay unchanged before a change is acted on")
			fs.DurationVar(&o.wait, "wait", 2*time.Minute, "bound on waiting for new code to serve")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				if len(args) == 0 {
					return usageError("name the main package's directory")
				}
				switch {
				case o.poll <= 0:
					return usageError("--poll %s: give how often to check the files, more than 0", o.poll)
				case o.wait <= 0:
					return usageError("--wait %s: give how long to wait for new code to serve, more than 0", o.wait)
				case o.debounce < 0:
					return usageError("--debounce %s: give how long the files must stay unchanged, 0 or more", o.debounce)
				}
				o.pkg, o.serverArgs = args[0], args[1:]
				return runDev(ctx, o, stdout, stderr)
			}
		},
	}
}

// devOptions configures "hotpatch dev".
type devOptions struct {
	pkg        string
	serverArgs []string
	patchFlag  string
	poll       time.Duration
	debounce   time.Duration
	wait       time.Duration
}

// errDevNotSupported: the baseline step the loop relies on is linux only.
var errDevNotSupported = errors.New("hotpatch dev needs linux: the baseline step and process groups are linux only here")

// fileState is what the poll compares.
type fileState struct {
	mod  time.Time
	size int64
}

// devLoop is one run of "hotpatch dev"; one goroutine (run) owns it.
type devLoop struct {
	o        devOptions
	out      *devOut
	root     string // the module's directory
	modPath  string // the module's path
	pkgRel   string // the main package, relative to root ("." for the root)
	tmp      string // the private temporary directory
	patchDir string
	link     string // tmp/bin/NAME, the link the server runs from
	goCmd    string // tmp/go: the go command, with its work directory in tmp

	seen    map[string]fileState // by module-relative path: the last poll
	base    map[string][]byte    // the running baseline's source
	cur     map[string][]byte    // what was last acted on
	scripts map[string][]byte    // by slot: the source of its patch in the patch directory
	files   map[string]string    // by slot: that patch's file
	kinds   map[string]string    // by slot: that patch's kind, kindScript or kindNative
	tags    []string             // the build tags of GOFLAGS, which the baseline's build uses
	sites   map[string]fileSites // by module-relative path: its slot functions, for its content
	// racy holds the files read within racyWindow of their mtime, with
	// that mtime: a later save within the file system's timestamp
	// granularity, of the same size, leaves the same mtime and size,
	// which the scan cannot tell from no save; their content is read
	// again at each poll until the window has passed.
	racy    map[string]time.Time
	shims   *shimSet // the running baseline's export shims
	baseBin string   // the running baseline's binary (the link's target then)
	srv     *devServer
	srvDown bool // the server's exit was reported
	seq     int
	natives int // native patches built so far

	// linked holds the module-relative directories of the packages of
	// the module that linkedOf, a baseline binary, links (from its
	// source record); nil when the record cannot be read.
	linked   map[string]bool
	linkedOf string
	// scannedAt is when the last scan ran; changeAfter and changeSeen
	// bound when the change not yet acted on was made: after the scan
	// before the one that first saw it, by that one (zero: none seen).
	// A changed file's mtime outside them (copied with its old one, a
	// clock skew) is not its save's time.
	scannedAt, changeAfter, changeSeen time.Time
	// extra holds the files the running baseline is built from that
	// are not .go files of the main module (dev_extra.go); nil before
	// the first build.
	extra *extraFiles
}

// noSuchSlot is the manager's refusal of a patch for a slot the server
// did not register (hotswap.ErrUnknownSlot), as its log line says it.
const noSuchSlot = "hotswap: no such slot"

// The kinds of patch a hot edit is delivered as.
const (
	kindScript = "script"
	kindNative = "native"
)

// runDev runs "hotpatch dev" until ctx ends.
func runDev(ctx context.Context, o devOptions, stdout, stderr io.Writer) (err error) {
	if runtime.GOOS != "linux" {
		return errDevNotSupported
	}
	// SIGTERM (kill, a process manager) and SIGHUP (the terminal closed)
	// end the loop as Ctrl-C does: the server runs in a process group of
	// its own, and nothing else would stop it or remove the temporary
	// directory.
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	dir, err := filepath.Abs(o.pkg)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageError("%s: not a directory; name the main package's directory", o.pkg)
	}
	// The real path: the watcher does not follow a link (a module
	// directory that is one would show no files), and the go command
	// names the files by their real path, which the overlay's keys
	// (the shims, the pinned files) must match.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return err
	}
	root := dir
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			return fmt.Errorf("%s is not in a module: no go.mod above it", o.pkg)
		}
		root = up
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^module\s+"?([^\s"]+)"?`).FindSubmatch(gomod)
	if m == nil {
		return fmt.Errorf("%s: no module line", filepath.Join(root, "go.mod"))
	}
	rel, _ := filepath.Rel(root, dir)
	tmp, err := os.MkdirTemp("", "hotpatch-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	l := &devLoop{o: o, out: newDevOut(stdout), root: root, modPath: string(m[1]), pkgRel: filepath.ToSlash(rel),
		tmp: tmp, patchDir: filepath.Join(tmp, "patches"), link: filepath.Join(tmp, "bin", filepath.Base(dir)),
		scripts: map[string][]byte{}, files: map[string]string{}, kinds: map[string]string{}}
	if err := os.MkdirAll(l.patchDir, 0o755); err != nil {
		return err
	}
	if l.goCmd, err = goWithTmp(tmp); err != nil {
		return err
	}
	if l.tags, err = goflagsTags(ctx, l.goCmd, root); err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C before the build: nothing to report
		}
		return err
	}
	defer func() {
		if l.srv != nil {
			// Ctrl-C again (or SIGTERM, SIGHUP) kills the server
			// rather than wait out its grace period.
			hurry := make(chan os.Signal, 1)
			signal.Notify(hurry, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(hurry)
			err = errors.Join(err, l.srv.stop(hurry, func(msg string) { l.out.status(colYellow, msg) }))
		}
	}()
	return l.run(ctx)
}

// run builds, starts, and then serves each change until ctx ends.
func (l *devLoop) run(ctx context.Context) error {
	l.seen, l.scannedAt = l.scan(), time.Now()
	snap := l.readRacy(l.seen)
	start := time.Now()
	shims, bin, err := l.build(ctx, snap)
	if err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C during the build: not a failed build
		}
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	l.base, l.cur, l.shims, l.baseBin = snap, snap, shims, bin
	l.slotSites(inBuild(snap, l.tags...)) // parsed now (25 ms for 250 files), not at the first hot edit
	srv, err := startDevServer(l.link, append(l.o.serverArgs, l.o.patchFlag, l.patchDir), l.out)
	if err != nil {
		return err
	}
	l.srv = srv
	l.out.status(colGreen, fmt.Sprintf("started %s (pid %d) in %s; watching %s", l.pkgRel, srv.pid(), since(start), l.root))

	tick := time.NewTicker(l.o.poll)
	defer tick.Stop()
	var pendingSince time.Time // when the last unacted change was seen
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if l.srv != nil {
			l.rolledBack(l.srv.logs.rolledBack())
		}
		if l.srv != nil && !l.srvDown && !l.srv.running() {
			l.srvDown = true
			l.out.status(colRed, fmt.Sprintf("the server is not running: %s (its output above says why); the next save builds and starts it", l.srv.exitDesc()))
		}
		prev := l.scannedAt
		now := l.scan()
		l.scannedAt = time.Now()
		if !sameStates(now, l.seen) || l.racyChanged() {
			if l.changeSeen.IsZero() {
				l.changeAfter, l.changeSeen = prev, l.scannedAt
			}
			l.seen, pendingSince = now, time.Now()
			continue
		}
		if pendingSince.IsZero() || time.Since(pendingSince) < l.o.debounce {
			continue
		}
		pendingSince = time.Time{}
		if !l.change(ctx, now) {
			// Saved again while it was read: wait for the files to
			// settle again.
			l.seen, pendingSince = l.scan(), time.Now()
			continue
		}
		l.changeSeen = time.Time{}
	}
}

// scan stats the module's files that matter to the server.
func (l *devLoop) scan() map[string]fileState {
	out := map[string]fileState{}
	_ = filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != l.root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			if p != l.root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !watched(name) {
			return nil
		}
		fi, err := d.Info()
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			// A linked file is the package's for the go command,
			// which follows the link: its target's content counts.
			fi, err = os.Stat(p)
		}
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(l.root, p)
		out[filepath.ToSlash(rel)] = fileState{mod: fi.ModTime(), size: fi.Size()}
		return nil
	})
	l.scanExtra(out)
	return out
}

// watched says whether a file of that name matters to the server:
// Go files (not tests), go.mod and go.sum. Editors' temporary files
// (.x.go.swp, x.go~, #x.go#, .#x.go, 4913) do not end in .go or start
// with a dot.
func watched(name string) bool {
	if name == "go.mod" || name == "go.sum" {
		return true
	}
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
}

func sameStates(a, b map[string]fileState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v.mod.Equal(w.mod) || v.size != w.size {
			return false
		}
	}
	return true
}

// read reads the files of states.
func (l *devLoop) read(states map[string]fileState) map[string][]byte {
	out := make(map[string][]byte, len(states))
	for rel := range states {
		if b, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(rel))); err == nil {
			out[rel] = b
		}
	}
	return out
}

// racyWindow is how long after its mtime a file read may still be
// saved again with the same mtime: the timestamp granularity of the
// file systems a module may be on (a jiffy on Linux's own, up to two
// seconds on others), with a margin.
const racyWindow = 3 * time.Second

// readRacy is read, and notes the files read within racyWindow of their
// mtime (l.racy).
func (l *devLoop) readRacy(states map[string]fileState) map[string][]byte {
	at := time.Now()
	out := l.read(states)
	if l.racy == nil {
		l.racy = map[string]time.Time{}
	}
	for rel, st := range states {
		// A file from the future (a clock skew) is not racy: a save
		// now gives it another mtime.
		if d := at.Sub(st.mod); d > -racyWindow && d < racyWindow {
			l.racy[rel] = st.mod
		}
	}
	return out
}

// racyChanged says whether a racy file's content differs from what was
// last acted on: a save the scan cannot see. A file whose window has
// passed is dropped.
func (l *devLoop) racyChanged() bool {
	for rel, mod := range l.racy {
		b, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(rel)))
		if cur, ok := l.cur[rel]; err != nil || !ok || !bytes.Equal(b, cur) {
			delete(l.racy, rel)
			return true
		}
		if time.Since(mod) >= racyWindow {
			delete(l.racy, rel)
		}
	}
	return false
}

// change acts on the files as they are now, states as the last scans
// saw them settled. It returns false, having done nothing, when they
// changed again by the time they were read: an editor writing a file in
// place (truncated, then written), git switching many files, a file
// renamed away and back (vim's backup) would otherwise be acted on half
// written or missing.
func (l *devLoop) change(ctx context.Context, states map[string]fileState) bool {
	now := l.readRacy(states)
	if !sameStates(l.scan(), states) {
		return false
	}
	var saved time.Time
	var files []string
	for rel, b := range now {
		if old, ok := l.cur[rel]; !ok || !bytes.Equal(old, b) {
			files = append(files, rel)
			if t := states[rel].mod; t.After(saved) {
				saved = t
			}
		}
	}
	for rel := range l.cur {
		if _, ok := now[rel]; !ok {
			files = append(files, rel)
			saved = time.Now()
		}
	}
	if len(files) == 0 {
		return true // touched, not changed
	}
	if !l.changeSeen.IsZero() && (saved.Before(l.changeAfter) || saved.After(l.changeSeen)) {
		saved = l.changeSeen // an mtime that is not the save's
	}
	sort.Strings(files)
	names := strings.Join(files, " ")
	if len(files) > 3 {
		names = strings.Join(files[:3], " ") + fmt.Sprintf(" (+%d)", len(files)-3)
	}
	if l.srv != nil && !l.srv.alive() {
		if !l.srvDown {
			l.out.status(colRed, "the server is not running; rebuilding")
		}
		l.srv, l.srvDown = nil, false
	}

	edits, reason, perr := l.decide(now)
	switch {
	case len(perr) > 0:
		var msg strings.Builder
		for _, e := range perr {
			fmt.Fprintf(&msg, "\n%s", e)
		}
		l.out.status(colRed, fmt.Sprintf("%s: syntax error; the old code keeps serving:%s", names, msg.String()))
		l.cur = now
		return true
	case reason == "" && l.srv != nil:
		res, err := l.hot(ctx, edits)
		var ce *devCompileError
		switch {
		case err == nil:
			l.cur = now
			switch {
			case res.scripts+res.natives == 0 && res.dropped == 0:
				l.out.status(colGreen, fmt.Sprintf("%s: no change to the code (comments, layout, or files the server is not built from)", names))
			case res.scripts+res.natives == 0:
				l.out.status(colGreen, fmt.Sprintf("%s: back to the running baseline in %s", names, since(saved)))
			default:
				l.out.status(colGreen, fmt.Sprintf("%s: %s in %s%s", names, res.kind(), since(saved), res.note()))
			}
			return true
		case errors.As(err, &ce):
			// The new body does not compile: a baseline step would
			// fail on the same errors.
			l.cur = now
			l.out.status(colRed, fmt.Sprintf("%s: the native patch does not compile; the old code keeps serving:\n%s", names, ce.msg))
			return true
		case ctx.Err() != nil:
			return true // stopping
		}
		reason = err.Error()
	case l.srv == nil:
		reason = "the server is not running"
	}
	pid, err := l.step(ctx, now)
	l.cur = now
	if ctx.Err() != nil {
		return true // stopping: the step was cut short, not failed
	}
	if err != nil {
		l.out.status(colRed, fmt.Sprintf("%s: baseline step failed; the old code keeps serving:\n%s\n(not hot: %s)", names, err, reason))
		return true
	}
	l.out.status(colYellow, fmt.Sprintf("%s: baseline step in %s, pid %d: %s", names, since(saved), pid, reason))
	return true
}

// decide compares now with the running baseline's source: the slot
// functions to patch, or why a baseline step is needed, or the syntax
// errors of the new files.
func (l *devLoop) decide(now map[string][]byte) ([]hotEdit, string, scanner.ErrorList) {
	// Files the build leaves out (//go:build ignore, x_windows.go) are
	// not the server's code: editing one changes nothing, and a file
	// that joins or leaves the build is new or removed code.
	now, base := inBuild(now, l.tags...), inBuild(l.base, l.tags...)
	// Nor are the packages of the module that the running baseline does
	// not link (another command, a tool, a sample): an edit there must
	// not restart the server. A package it starts to link is imported by
	// one it links, whose edit takes the step; or by a native patch
	// serving now (a plugin may link packages of its own), and then
	// every package counts.
	if linked := l.linkedDirs(); linked != nil && !l.nativeLinksMore(linked) {
		unlinked := func(rel string, _ []byte) bool {
			return l.mainGo(rel) && !linked[path.Dir(rel)]
		}
		maps.DeleteFunc(now, unlinked) // inBuild's copies
		maps.DeleteFunc(base, unlinked)
	}
	var perr scanner.ErrorList
	parsed := map[string]*srcFile{}
	for rel, b := range now {
		if !strings.HasSuffix(rel, ".go") {
			continue
		}
		if old, ok := base[rel]; ok && bytes.Equal(old, b) {
			continue
		}
		f, err := parseSrc(rel, b)
		var el scanner.ErrorList
		if errors.As(err, &el) {
			perr = append(perr, el...)
			continue
		}
		parsed[rel] = f
	}
	if len(perr) > 0 {
		perr.Sort()
		return nil, "", perr
	}
	var reason string
	var edits []hotEdit
	for _, rel := range sortedKeys(now) {
		b := now[rel]
		old, ok := base[rel]
		switch {
		case ok && bytes.Equal(old, b):
			continue
		case !ok:
			return nil, rel + ": new file", nil
		case !l.mainGo(rel):
			return nil, l.extraReason(rel), nil
		}
		of, err := parseSrc(rel, old)
		if err != nil {
			return nil, rel + ": the baseline's copy does not parse", nil
		}
		e, why := compareFile(of, parsed[rel])
		if why != "" {
			return nil, why, nil
		}
		edits = append(edits, e...)
	}
	for _, rel := range sortedKeys(base) {
		if _, ok := now[rel]; !ok {
			if !l.mainGo(rel) && rel != "go.mod" && rel != "go.sum" && !l.extraGone(rel) {
				continue // no longer used by the build, as the last baseline step found
			}
			return nil, rel + " removed", nil
		}
	}
	if len(edits) == 0 && reason == "" {
		// Back to the baseline's bodies: the scripts go.
		return nil, "", nil
	}
	// A function copied with its doc comment carries the slot's
	// directive too: the tool cannot tell which one the server
	// registers, and a patch of the other would replace it.
	sites := l.slotSites(now)
	for _, e := range edits {
		if at := sites[e.slot]; len(at) > 1 {
			return nil, fmt.Sprintf("slot %s is marked on %d functions (%s): the tool cannot tell which one the server registers; "+
				"keep the directive on that one only", e.slot, len(at), strings.Join(at, ", ")), nil
		}
	}
	return edits, reason, nil
}

// nativeLinksMore says whether a native patch serving now imports a
// package of the module that the running baseline does not link (linked,
// by module-relative directory): the patch carries that package's code,
// which an edit of it must replace. A package the baseline links has
// its dependencies linked too.
func (l *devLoop) nativeLinksMore(linked map[string]bool) bool {
	for slot, kind := range l.kinds {
		if kind != kindNative {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), "", l.scripts[slot], parser.ImportsOnly)
		if err != nil {
			return true
		}
		for _, is := range f.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			rel, ok := strings.CutPrefix(p, l.modPath+"/")
			if p == l.modPath {
				rel, ok = ".", true
			}
			if ok && !linked[rel] {
				return true
			}
		}
	}
	return false
}

// slotSites returns, for each slot, where the functions of files (the
// files in the build) marked with its directive are: "rel:line (Name)".
// A file's sites are kept while its content is the same.
func (l *devLoop) slotSites(files map[string][]byte) map[string][]string {
	if l.sites == nil {
		l.sites = map[string]fileSites{}
	}
	out := map[string][]string{}
	linked := l.linkedDirs()
	for _, rel := range sortedKeys(files) {
		b := files[rel]
		if !strings.HasSuffix(rel, ".go") {
			continue
		}
		if linked != nil && !linked[path.Dir(rel)] {
			continue // a package the server does not link (a sample patch, a tool)
		}
		fs, ok := l.sites[rel]
		if !ok || !bytes.Equal(fs.src, b) {
			fs = fileSites{src: b, slots: map[string][]string{}}
			if f, err := parseSrc(rel, b); err == nil {
				for _, d := range f.file.Decls {
					if fd, ok := d.(*ast.FuncDecl); ok {
						if slot := slotOf(fd); slot != "" {
							fs.slots[slot] = append(fs.slots[slot], fmt.Sprintf("%s:%d (%s)", rel, f.fset.Position(fd.Name.Pos()).Line, fd.Name.Name))
						}
					}
				}
			}
			l.sites[rel] = fs
		}
		for slot, at := range fs.slots {
			out[slot] = append(out[slot], at...)
		}
	}
	return out
}

// linkedDirs returns the module-relative directories of the module's
// packages that the running baseline links, from the source record
// appended to its binary, or nil when it has none (every package then
// counts).
func (l *devLoop) linkedDirs() map[string]bool {
	if l.baseBin == "" {
		return nil
	}
	if l.linkedOf == l.baseBin {
		return l.linked
	}
	l.linked, l.linkedOf = nil, l.baseBin
	src, err := manifest.ReadSources(l.baseBin)
	if err != nil {
		return nil
	}
	dirs := map[string]bool{}
	for p := range src {
		if p == l.modPath {
			dirs["."] = true
		} else if rel, ok := strings.CutPrefix(p, l.modPath+"/"); ok {
			dirs[rel] = true
		}
	}
	l.linked = dirs
	return dirs
}

// fileSites is the slot functions of one file's content.
type fileSites struct {
	src   []byte
	slots map[string][]string
}

// hot delivers each changed slot body, as a script when it can be
// written and the server takes it, else as a native patch (and removes
// the patches of the slots whose body is the baseline's again). It waits
// for each to be applied.
func (l *devLoop) hot(ctx context.Context, edits []hotEdit) (res hotResult, err error) {
	type want struct {
		script, native       []byte
		scriptWhy, nativeWhy string
	}
	wants := map[string]*want{}
	for _, e := range edits {
		pkg, why := l.pkgOf(e.file)
		if why != "" {
			return res, errors.New(why)
		}
		w := &want{}
		w.script, w.scriptWhy = script(e, pkg)
		var shim *pkgShim
		if l.shims != nil {
			shim = l.shims.pkgs[path.Dir(e.file.rel)]
		}
		w.native, w.nativeWhy = nativeSource(e, pkg, shim, filepath.Join(l.root, filepath.FromSlash(e.file.rel)))
		if w.scriptWhy != "" && w.nativeWhy != "" {
			return res, errors.New(w.nativeWhy)
		}
		wants[e.slot] = w
	}
	for _, slot := range sortedKeys(l.scripts) {
		if wants[slot] == nil {
			if err := l.revert(ctx, slot); err != nil {
				return res, err
			}
			res.dropped++
		}
	}
	for _, slot := range sortedKeys(wants) {
		w := wants[slot]
		switch cur := l.scripts[slot]; {
		case cur != nil && l.kinds[slot] == kindScript && bytes.Equal(cur, w.script),
			cur != nil && l.kinds[slot] == kindNative && bytes.Equal(cur, w.native):
			continue
		}
		notScript := w.scriptWhy
		if notScript == "" {
			staged, err := l.stage(w.script)
			if err != nil {
				return res, err
			}
			err = l.apply(ctx, slot, kindScript, staged, ".go")
			if err == nil {
				l.scripts[slot], l.kinds[slot] = w.script, kindScript
				res.scripts++
				continue
			}
			if ctx.Err() != nil {
				return res, err
			}
			notScript = err.Error()
			if strings.Contains(notScript, noSuchSlot) {
				// A native patch would be refused the same way, after
				// a build for nothing, at every save.
				return res, fmt.Errorf("%s: the server registers no slot %s; check the name in the %s directive "+
					"(the body goes in with the baseline step, as long as no slot of that name is registered)", notScript, slot, slotDirective)
			}
		}
		if w.nativeWhy != "" {
			return res, fmt.Errorf("%s; a native patch cannot do either: %s", notScript, w.nativeWhy)
		}
		so, err := l.buildNative(ctx, slot, w.native)
		if err != nil {
			var ce *devCompileError
			if errors.As(err, &ce) {
				return res, err
			}
			return res, fmt.Errorf("%s; %w", notScript, err)
		}
		if err := l.apply(ctx, slot, kindNative, so, ".so"); err != nil {
			return res, fmt.Errorf("%s; %w", notScript, err)
		}
		l.scripts[slot], l.kinds[slot] = w.native, kindNative
		res.natives++
		res.notes = append(res.notes, notScript)
	}
	return res, nil
}

// hotResult is what hot delivered.
type hotResult struct {
	scripts, natives, dropped int
	notes                     []string // why each native patch is not a script
}

// kind is the output's word for the delivery: hot (script), hot
// (native), or both for a save of several slots.
func (r hotResult) kind() string {
	switch {
	case r.natives == 0:
		return "hot (" + kindScript + ")"
	case r.scripts == 0:
		return "hot (" + kindNative + ")"
	}
	return fmt.Sprintf("hot (%d %s, %d %s)", r.scripts, kindScript, r.natives, kindNative)
}

// note says why the native patches are not scripts.
func (r hotResult) note() string {
	if len(r.notes) == 0 {
		return ""
	}
	return "; not a script: " + strings.Join(r.notes, "; ")
}

// devCompileError is a native patch build that failed on the compiler's
// errors in the module's own files: the new code does not compile.
type devCompileError struct{ msg string }

func (e *devCompileError) Error() string { return e.msg }

// stage writes src, a script, outside the patch directory.
func (l *devLoop) stage(src []byte) (string, error) {
	l.seq++
	staged := filepath.Join(l.tmp, fmt.Sprintf("staged-%d.go", l.seq))
	return staged, os.WriteFile(staged, src, 0o644)
}

// apply renames staged, a patch of the given kind, into the patch
// directory and waits for the server's log to say it was applied or
// refused. The manager logs each event with the patch's source path: a
// generic signal, where an HTTP status page would be the example's own.
// Each patch has a file of its own, stacked on the slot's previous one,
// which is removed once the new one serves: a refused patch leaves the
// previous one serving.
func (l *devLoop) apply(ctx context.Context, slot, kind, staged, ext string) error {
	l.seq++
	final := filepath.Join(l.patchDir, fmt.Sprintf("dev-%s-%d%s", safeName(slot), l.seq, ext))
	if kind == kindNative {
		kind = "native patch"
	}
	w := l.srv.logs.wait(func(line string) bool {
		return strings.Contains(line, final) && (strings.Contains(line, "hotswap: applied") || strings.Contains(line, "hotswap: rejected"))
	})
	defer l.srv.logs.cancel(w)
	if err := os.Rename(staged, final); err != nil {
		return err
	}
	select {
	case line := <-w.c:
		if strings.Contains(line, "hotswap: rejected") {
			os.Remove(final)
			why := strings.ReplaceAll(l.relPaths(logValue(line, "err"), ""), l.patchDir+string(filepath.Separator), "")
			return fmt.Errorf("the %s for %s was refused (%s)", kind, slot, why)
		}
		l.drop(slot)
		l.files[slot] = final
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(l.o.wait):
		os.Remove(final)
		err := fmt.Errorf("the %s for %s was not applied within %s", kind, slot, l.o.wait)
		if !l.srv.logs.sawEvents() {
			err = fmt.Errorf("%w, and the server never logged its manager's events: hotpatch dev waits for its \"hotswap: applied\" line; "+
				"give hotpatch.Options.Logger a log/slog text or JSON logger to stdout or stderr", err)
		}
		return err
	}
}

// revert removes the patch of slot, whose body is the baseline's again,
// and waits for the server's log to say it was reverted. A native
// patch's code stays mapped (Go never unloads a plugin); it no longer
// serves.
func (l *devLoop) revert(ctx context.Context, slot string) error {
	file := l.files[slot]
	w := l.srv.logs.wait(func(line string) bool {
		return strings.Contains(line, file) && strings.Contains(line, "hotswap: reverted")
	})
	defer l.srv.logs.cancel(w)
	l.drop(slot)
	select {
	case <-w.c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(l.o.wait):
		return fmt.Errorf("the patch of %s was removed, but the server did not say it reverted it within %s", slot, l.o.wait)
	}
}

// rolledBack forgets the patches that the server rolled back on its own
// (lines, its log's), as their probation failed: the running baseline's
// body serves those slots again. Kept, a patch would be waited for in
// vain when its body goes back to the baseline's, and taken for serving
// when its body is saved again.
func (l *devLoop) rolledBack(lines []string) {
	for _, line := range lines {
		for _, slot := range sortedKeys(l.files) {
			if strings.Contains(line, l.files[slot]) {
				l.drop(slot)
				l.out.status(colRed, fmt.Sprintf("slot %s: the server rolled back its hot edit (%s); the running baseline's body serves it until the next edit of it",
					slot, logValue(line, "err")))
			}
		}
	}
}

// safeName is slot as a part of a file name.
func safeName(slot string) string {
	return regexp.MustCompile(`[^A-Za-z0-9_]`).ReplaceAllString(slot, "_")
}

// drop removes the patch of slot, if any.
func (l *devLoop) drop(slot string) {
	if f := l.files[slot]; f != "" {
		os.Remove(f)
	}
	delete(l.files, slot)
	delete(l.scripts, slot)
	delete(l.kinds, slot)
}

// pkgOf describes the package of f, from the files acted on.
func (l *devLoop) pkgOf(f *srcFile) (pkgInfo, string) {
	dir := filepath.ToSlash(filepath.Dir(f.rel))
	p := pkgInfo{name: f.file.Name.Name, path: l.modPath, names: map[string]bool{}, dir: filepath.Join(l.root, filepath.FromSlash(dir))}
	if dir != "." {
		p.path += "/" + dir
	}
	for rel, b := range inBuild(l.cur, l.tags...) {
		if filepath.ToSlash(filepath.Dir(rel)) != dir || !strings.HasSuffix(rel, ".go") {
			continue
		}
		g := f
		if rel != f.rel {
			var err error
			if g, err = parseSrc(rel, b); err != nil {
				return p, rel + " does not parse"
			}
		}
		collectNames(g.file, p.names)
	}
	collectNames(f.file, p.names)
	return p, ""
}

// step rebuilds the baseline and restarts the server into it, or starts
// it when it is not running. It returns the PID now serving.
func (l *devLoop) step(ctx context.Context, now map[string][]byte) (int, error) {
	shims, bin, err := l.build(ctx, now)
	if err != nil {
		return 0, err
	}
	// The new baseline holds every edit: the patches go. The old
	// process serves its own baseline for the moment of the restart.
	// Their files are set aside, to be put back if the restart is
	// refused (a native patch cannot be built again for nothing).
	type keptPatch struct {
		src        []byte
		kind, file string
	}
	kept := map[string]keptPatch{}
	for _, slot := range sortedKeys(l.scripts) {
		aside := filepath.Join(l.tmp, "aside-"+filepath.Base(l.files[slot]))
		if err := os.Rename(l.files[slot], aside); err == nil {
			kept[slot] = keptPatch{l.scripts[slot], l.kinds[slot], aside}
		}
		l.drop(slot)
	}
	if l.srv == nil {
		for _, k := range kept {
			os.Remove(k.file) // the new process starts from its baseline
		}
		srv, err := startDevServer(l.link, append(l.o.serverArgs, l.o.patchFlag, l.patchDir), l.out)
		if err != nil {
			return 0, err
		}
		l.srv = srv
		l.base, l.shims, l.baseBin = now, shims, bin
		return srv.pid(), nil
	}
	pid, err := l.srv.restart(ctx, l.o.wait)
	if err != nil {
		// The old baseline serves on: the next save is compared with
		// its source, not with the refused one, and its hot edits are
		// applied again.
		for _, slot := range sortedKeys(kept) {
			k := kept[slot]
			if aerr := l.apply(ctx, slot, k.kind, k.file, filepath.Ext(k.file)); aerr != nil {
				err = errors.Join(err, fmt.Errorf("the last hot edit of %s is not serving: %w", slot, aerr))
				continue
			}
			l.scripts[slot], l.kinds[slot] = k.src, k.kind
		}
		return 0, err
	}
	for _, k := range kept {
		os.Remove(k.file)
	}
	l.base, l.shims, l.baseBin = now, shims, bin
	return pid, nil
}

// goWithTmp writes tmp/go, the go command with its work directories
// (GOTMPDIR) in tmp: a build cut short by Ctrl-C leaves nothing behind
// once tmp is removed.
func goWithTmp(tmp string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("hotpatch dev builds with the go command: %w", err)
	}
	if goCmd, err = filepath.Abs(goCmd); err != nil {
		return "", err
	}
	work := filepath.Join(tmp, "gotmp")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	// In a session (so a process group) of its own when setsid(1) is
	// there: its tools stay in that group when the go command dies
	// first, so that killBuilds finds them, re-parented or not.
	setsid := ""
	if p, err := exec.LookPath("setsid"); err == nil {
		setsid = quote(p) + " "
	}
	wrapper := filepath.Join(tmp, "go")
	script := "#!/bin/sh\nGOTMPDIR=" + quote(work) + " exec " + setsid + quote(goCmd) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return "", err
	}
	return wrapper, nil
}

// build builds the baseline of snap (the module's files as read) under
// l.link, "hotpatch build -versioned", with the export shims of snap's
// packages added by an overlay (which also keeps the build on snap where
// the tree changed since it was read). It returns the shims and the
// binary the link now names. It then lists the files the build used
// beside the main module's .go files (l.extra, dev_extra.go) and adds
// them to snap, as read now.
func (l *devLoop) build(ctx context.Context, snap map[string][]byte) (*shimSet, string, error) {
	l.seq++
	local := make(map[string][]byte, len(snap)) // the main module's files: only its packages get shims
	for rel, b := range snap {
		if l.mainGo(rel) || !strings.HasSuffix(rel, ".go") {
			local[rel] = b
		}
	}
	shims, err := writeShims(l.root, filepath.Join(l.tmp, fmt.Sprintf("shims-%d", l.seq)), buildShims(local, func(rel string) bool {
		_, err := os.Lstat(filepath.Join(l.root, filepath.FromSlash(rel)))
		return err == nil
	}, l.tags...))
	if err != nil {
		return nil, "", err
	}
	overlay, cleanup, err := l.writeOverlay(snap, shims)
	if err != nil {
		return nil, "", err
	}
	defer cleanup()
	var log bytes.Buffer
	opts := patchbuild.BaselineOptions{Package: "./" + l.pkgRel, Output: l.link, Dir: l.root, Overlay: overlay}
	opts.Go = l.goCmd
	err = l.guard(ctx, func(ctx context.Context) error { return runVersionedBuild(ctx, opts, io.Discard, &log) })
	if err != nil {
		return nil, "", errors.New(l.relPaths(err.Error(), overlay))
	}
	bin, err := filepath.EvalSymlinks(l.link)
	if err != nil {
		return nil, "", err
	}
	var extra *extraFiles
	err = l.guard(ctx, func(ctx context.Context) error {
		extra, err = l.listExtra(ctx, overlay)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	l.extra = extra
	states := map[string]fileState{}
	l.scanExtra(states)
	for rel := range states {
		if _, ok := snap[rel]; ok {
			delete(states, rel) // read with the rest, before the build
		}
	}
	maps.Copy(snap, l.read(states))
	return shims, bin, nil
}

// relPaths makes the file names in msg, the output of a go command run
// in the module's root with the overlay file given, module-relative: go
// build names files relative to its directory (keep those), or absolute,
// and a file of the overlay (the snapshot's copy of a module file) by
// the copy's name, absolute or relative, which is the module file's
// under the overlay's directory.
func (l *devLoop) relPaths(msg, overlay string) string {
	sep := string(filepath.Separator)
	if overlay != "" {
		dir := filepath.Dir(overlay)
		if rel, err := filepath.Rel(l.root, dir); err == nil {
			msg = strings.ReplaceAll(msg, rel+sep, "")
		}
		msg = strings.ReplaceAll(msg, dir+sep, "")
	}
	return strings.ReplaceAll(msg, l.root+sep, "")
}

// guard runs fn, a build, and on Ctrl-C stops the go commands it runs
// with their tools (killBuilds), rather than kill the go command alone
// as a cancelled context would (its tools would run on); their work
// directories are in l.tmp.
func (l *devLoop) guard(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bctx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	built := make(chan struct{})
	stopped := make(chan struct{}) // the stopping goroutine is done
	spare := -1                    // the server's process group: it is stopped with SIGTERM
	if l.srv != nil {
		spare = l.srv.pgid
	}
	go func() {
		defer close(stopped)
		select {
		case <-built:
			return
		case <-ctx.Done():
		}
		deadline := time.After(15 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			killBuilds(l.tmp, spare)
			select {
			case <-built:
				// The go command is gone: once more for what it
				// started last, then the caller goes on.
				killBuilds(l.tmp, spare)
				return
			case <-deadline:
				hardStop()
				return
			case <-tick.C:
			}
		}
	}()
	err := fn(bctx)
	close(built)
	// The go command may end (killed) while killBuilds still stops its
	// tools: wait, so that none is running when Ctrl-C returns.
	<-stopped
	return err
}

// inBuild is files without the .go files the build leaves out for their
// name or their //go:build line, as "go build" on this platform with cgo
// on and the build tags given (the baseline's build) sees them. A file
// that does not parse stays, so that its syntax error is shown.
func inBuild(files map[string][]byte, tags ...string) map[string][]byte {
	ctxt := build.Default
	ctxt.CgoEnabled = true
	ctxt.BuildTags = tags
	out := make(map[string][]byte, len(files))
	for rel, b := range files {
		if strings.HasSuffix(rel, ".go") {
			ctxt.OpenFile = func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			dir, name := path.Split(rel)
			if ok, err := ctxt.MatchFile(dir, name); err == nil && !ok {
				continue
			}
		}
		out[rel] = b
	}
	return out
}

// goflagsTags returns the build tags that GOFLAGS (from the environment
// or from go env -w) gives every build in dir: the baseline is built
// with them, so the decision and the export shims must see the files as
// that build does.
func goflagsTags(ctx context.Context, goCmd, dir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOFLAGS")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go env GOFLAGS: %w\n%s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("go env GOFLAGS: %w", err)
	}
	var tags []string
	for _, f := range strings.Fields(string(out)) {
		f = strings.TrimPrefix(strings.TrimPrefix(f, "-"), "-")
		if v, ok := strings.CutPrefix(f, "tags="); ok {
			tags = nil // the last one counts, as for the go command
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					tags = append(tags, t)
				}
			}
		}
	}
	return tags, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < 10*time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// logValue reads key=value (value maybe quoted) from a slog text line.
func logValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return line
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		for j := 1; j < len(v); j++ {
			if v[j] == '\\' {
				j++
				continue
			}
			if v[j] == '"' {
				if s, err := strconv.Unquote(v[:j+1]); err == nil {
					return s
				}
				return v[:j+1]
			}
		}
		return v
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return v[:j]
	}
	return v
}

// Colours, used when stdout is a terminal.
const (
	colGreen  = "\x1b[32m"
	colYellow = "\x1b[33m"
	colRed    = "\x1b[31m"
	colReset  = "\x1b[0m"
)

// devOut is the command's output, shared by the status lines and the
// server's prefixed output.
type devOut struct {
	mu     sync.Mutex // guards w
	w      io.Writer
	colour bool
}

func newDevOut(w io.Writer) *devOut {
	o := &devOut{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" {
			o.colour = true
		}
	}
	return o
}

// status prints a line of the loop.
func (o *devOut) status(col, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.colour {
		fmt.Fprintf(o.w, "%shotpatch dev:%s %s\n", col, colReset, msg)
		return
	}
	fmt.Fprintf(o.w, "hotpatch dev: %s\n", msg)
}

// server prints a line of the server's output.
func (o *devOut) server(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "  | %s\n", line)
}

// logWaiter is one wait for a line of the server's output.
type logWaiter struct {
	match func(string) bool
	c     chan string // buffered; gets the first matching line
}

// logWatch hands the server's lines to those waiting for one, and keeps
// the lines that say the server rolled a patch back on its own.
type logWatch struct {
	mu      sync.Mutex // guards waiters, rolled, events
	waiters []*logWaiter
	rolled  []string
	events  bool // a line of the manager's events was seen
}

// sawEvents says whether the server logged any of its manager's events
// ("hotswap: ...") so far.
func (lw *logWatch) sawEvents() bool {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.events
}

// rolledBack returns the lines, since the last call, that say the server
// rolled back a patch (its probation failed).
func (lw *logWatch) rolledBack() []string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	r := lw.rolled
	lw.rolled = nil
	return r
}

func (lw *logWatch) wait(match func(string) bool) *logWaiter {
	w := &logWaiter{match: match, c: make(chan string, 1)}
	lw.mu.Lock()
	lw.waiters = append(lw.waiters, w)
	lw.mu.Unlock()
	return w
}

func (lw *logWatch) cancel(w *logWaiter) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for i, x := range lw.waiters {
		if x == w {
			lw.waiters = append(lw.waiters[:i], lw.waiters[i+1:]...)
			return
		}
	}
}

func (lw *logWatch) line(s string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if strings.Contains(s, "hotswap: rolled-back") {
		lw.rolled = append(lw.rolled, s)
	}
	if strings.Contains(s, "hotswap: ") {
		lw.events = true
	}
	kept := lw.waiters[:0]
	for _, w := range lw.waiters {
		if w.match(s) {
			w.c <- s
			continue
		}
		kept = append(kept, w)
	}
	lw.waiters = kept
}

// maxServerLine bounds a line of the server's output as the loop keeps
// it; the rest of a longer line is dropped.
const maxServerLine = 1 << 20

// serverLines calls fn with each line of r, the server's output, until
// r ends. A line longer than maxServerLine (a large value logged) is cut,
// and says so: the lines after it still count (a "hotswap: applied" the
// loop waits for among them).
func serverLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	cut := 0
	for {
		frag, err := br.ReadSlice('\n')
		frag = bytes.TrimSuffix(frag, []byte("\n"))
		keep := min(len(frag), maxServerLine-len(line))
		line = append(line, frag[:keep]...)
		cut += len(frag) - keep
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		text := strings.TrimSuffix(string(line), "\r")
		if cut > 0 {
			text += fmt.Sprintf(" [%d bytes cut]", cut)
		}
		if len(line) > 0 || err == nil {
			fn(text)
		}
		line, cut = line[:0], 0
		if err != nil {
			// Past a read error, drain: a server whose output
			// is not read blocks, or dies of SIGPIPE.
			_, _ = io.Copy(io.Discard, br)
			return
		}
	}
}
