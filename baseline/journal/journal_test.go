package journal_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
)

// textLoader makes a patch of a *.txt file: the slot "example.Greet" returns the
// file's content. Its kind is configurable, so a test can stand for a
// script or a native patch without building one.
type textLoader struct{ kind hotswap.Kind }

func (l textLoader) Kind() hotswap.Kind              { return l.kind }
func (l textLoader) Match(path string) bool          { return strings.HasSuffix(path, ".txt") }
func (l textLoader) Close(ctx context.Context) error { return nil }
func (l textLoader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	data, _, err := patchfile.ReadFile(path, 1<<20)
	if err != nil {
		return hotswap.Patch{}, err
	}
	s := string(data)
	return hotswap.Patch{ID: loader.PatchID(path, data), Kind: l.kind, Source: path,
		Impls: map[string]any{"example.Greet": func() string { return s }}}, nil
}

// server is one run of a server: a registry, a manager with the text
// loader, and the journal.
type server struct {
	m     *hotswap.Manager
	greet *registry.Func[func() string]
	j     *journal.Journal
	hist  func() []hotswap.Event
}

// start starts a server on the state directory as baseline ident.
func start(t *testing.T, state, ident string, kind hotswap.Kind, opts journal.Options) *server {
	t.Helper()
	s, err := tryStart(t, state, ident, kind, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tryStart(t *testing.T, state, ident string, kind hotswap.Kind, opts journal.Options) (*server, error) {
	t.Helper()
	reg := registry.New()
	s := &server{greet: registry.MustRegister(reg, "example.Greet", func() string { return "baseline" })}
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	s.hist = m.History
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	if err := m.Attach(textLoader{kind}); err != nil {
		t.Fatal(err)
	}
	opts.Identity = ident
	s.j, err = journal.Open(context.Background(), m, state, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.j.Close() })
	return s, nil
}

// apply loads the file at path and applies it, then waits for the journal.
func (s *server) apply(t *testing.T, path string) string {
	t.Helper()
	l := s.m.Loaders()[0]
	p, err := s.m.Load(context.Background(), l, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	s.sync(t)
	return p.ID
}

func (s *server) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.j.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// stop ends the run as a crash would: the journal stops following (as
// the process would vanish), then the manager closes.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.j.Close()
	if err := s.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (s *server) stack() []string {
	var ids []string
	for _, p := range s.m.Status().Stack {
		ids = append(ids, p.ID)
	}
	return ids
}

func (s *server) events(typ hotswap.EventType) []hotswap.Event {
	var out []hotswap.Event
	for _, e := range s.hist() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func stateDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state")
}

func TestRestartSameBaselineAppliesTheStackAgain(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	b := s.apply(t, writeFile(t, src, "b.txt", "B"))
	c := s.apply(t, writeFile(t, src, "c.txt", "C"))
	if err := s.m.Revert(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b2 := s.apply(t, writeFile(t, src, "b.txt", "B2")) // the file changed: a new patch on top
	want := []string{a, c, b2}
	if got := s.stack(); !slices.Equal(got, want) {
		t.Fatalf("stack %v, want %v", got, want)
	}
	s.stop(t)
	// The sources are gone: the copies in the state directory serve.
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}

	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, want) {
		t.Fatalf("after restart: stack %v, want %v", got, want)
	}
	if got := s.greet.Load()(); got != "B2" {
		t.Fatalf("greet serves %q, want B2", got)
	}
	if got := s.m.Status().Stack[0].Source; got != filepath.Join(src, "a.txt") {
		t.Fatalf("re-applied patch has source %q, want the original", got)
	}
	if n := len(s.events(hotswap.EventSuperseded)); n != 0 {
		t.Fatalf("%d superseded events on a restart of the same baseline", n)
	}
	// A third start: still the same stack (the journal was rewritten
	// from the re-applied patches).
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, want) {
		t.Fatalf("after a second restart: stack %v, want %v", got, want)
	}
	// Only the copies the record uses are kept.
	copies, _ := filepath.Glob(filepath.Join(state, "blobs", "*", "*"))
	if len(copies) != 3 {
		t.Fatalf("%d copies kept, want 3: %v", len(copies), copies)
	}
}

func TestManagerCloseIsNotRecorded(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	// The manager closes first (the journal is still following): its
	// reverts are a shutdown, not a change of the stack.
	if err := s.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.j.Close()
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("stack %v, want [%s]", got, a)
	}
}

func TestNewBaselineSupersedes(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	pa := writeFile(t, src, "a.txt", "A")
	a := s.apply(t, pa)
	s.stop(t)

	s = start(t, state, "exe:B", hotswap.KindScript, journal.Options{})
	if got := s.stack(); len(got) != 0 {
		t.Fatalf("new baseline applied %v", got)
	}
	ev := s.events(hotswap.EventSuperseded)
	if len(ev) != 1 || ev[0].PatchID != a || ev[0].Source != pa || !strings.Contains(ev[0].Note, "exe:A") {
		t.Fatalf("superseded events %v, want one for %s", ev, a)
	}
	if n := len(s.events(hotswap.EventRejected)); n != 0 {
		t.Fatalf("superseding is not a rejection: %v", s.events(hotswap.EventRejected))
	}
	if id, skip := s.j.Known(pa, sha256.Sum256([]byte("A"))); !skip || id != "" {
		t.Fatalf("Known(superseded content) = %q, %v; want skip", id, skip)
	}
	if _, skip := s.j.Known(pa, sha256.Sum256([]byte("A, edited"))); skip {
		t.Fatal("an edited file is skipped")
	}
	b := s.apply(t, writeFile(t, src, "b.txt", "B"))
	s.stop(t)

	// The same new baseline again: its own patch is applied again, and
	// nothing is reported superseded a second time.
	s = start(t, state, "exe:B", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{b}) {
		t.Fatalf("restart of B: stack %v, want [%s]", got, b)
	}
	if ev := s.events(hotswap.EventSuperseded); len(ev) != 0 {
		t.Fatalf("superseded reported again: %v", ev)
	}
	if _, skip := s.j.Known(pa, sha256.Sum256([]byte("A"))); !skip {
		t.Fatal("the superseded content is forgotten after a restart")
	}
	s.stop(t)

	// Back to the old baseline: its own record is applied again.
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("back on A: stack %v, want [%s]", got, a)
	}
}

func TestCarryForward(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind  hotswap.Kind
		carry bool
	}{
		{hotswap.KindScript, true},
		{hotswap.KindProcess, true},
		{hotswap.KindNative, false}, // built for one fingerprint: never carried
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			state, src := stateDir(t), t.TempDir()
			s := start(t, state, "exe:A", tc.kind, journal.Options{})
			a := s.apply(t, writeFile(t, src, "a.txt", "A"))
			s.stop(t)
			s = start(t, state, "exe:B", tc.kind, journal.Options{CarryForward: true})
			got, sup := s.stack(), s.events(hotswap.EventSuperseded)
			if tc.carry && (!slices.Equal(got, []string{a}) || len(sup) != 0) {
				t.Fatalf("carried forward: stack %v, superseded %v; want [%s] and none", got, sup, a)
			}
			if !tc.carry && (len(got) != 0 || len(sup) != 1) {
				t.Fatalf("not carried: stack %v, superseded %v; want none and one", got, sup)
			}
			// Carried, it belongs to the new baseline now.
			s.stop(t)
			s = start(t, state, "exe:B", tc.kind, journal.Options{})
			if tc.carry && !slices.Equal(s.stack(), []string{a}) {
				t.Fatalf("restart of B: stack %v, want [%s]", s.stack(), a)
			}
		})
	}
}

func TestManualPatchIsRecordedButNotReapplied(t *testing.T) {
	t.Parallel()
	state := stateDir(t)
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if _, err := s.m.Apply(context.Background(), hotswap.Patch{ID: "hand", Impls: map[string]any{"example.Greet": func() string { return "hand" }}}); err != nil {
		t.Fatal(err)
	}
	s.sync(t)
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	rej := s.events(hotswap.EventRejected)
	if len(s.stack()) != 0 || len(rej) != 1 || rej[0].PatchID != "hand" || !strings.Contains(rej[0].Err.Error(), "no copy of its code") {
		t.Fatalf("stack %v, rejections %v; want none applied and one saying why", s.stack(), rej)
	}
}

func TestCorruptJournalIsMovedAside(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(t *testing.T, path string){
		"flipped byte": func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			data[len(data)/2] ^= 1
			os.WriteFile(path, data, 0o600)
		},
		"cut short": func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			os.WriteFile(path, data[:len(data)/2], 0o600)
		},
		"not a file": func(t *testing.T, path string) {
			os.Remove(path)
			os.Mkdir(path, 0o700)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state, src := stateDir(t), t.TempDir()
			s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			s.apply(t, writeFile(t, src, "a.txt", "A"))
			s.stop(t)
			damage(t, filepath.Join(state, "journal"))

			s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			if got := s.stack(); len(got) != 0 {
				t.Fatalf("started with %v, want the baseline", got)
			}
			ev := s.events(journal.EventCorrupt)
			if len(ev) != 1 || !strings.Contains(ev[0].Err.Error(), "moved aside") {
				t.Fatalf("corrupt events %v, want one that says why", ev)
			}
			aside, _ := filepath.Glob(filepath.Join(state, "journal.corrupt-*"))
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			// A fresh journal works from here on.
			b := s.apply(t, writeFile(t, src, "b.txt", "B"))
			s.stop(t)
			s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			if got := s.stack(); !slices.Equal(got, []string{b}) {
				t.Fatalf("stack %v, want [%s]", got, b)
			}
		})
	}
}

func TestTornWriteIsIgnored(t *testing.T) {
	t.Parallel()
	state, src := stateDir(t), t.TempDir()
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	s.stop(t)
	// A crash in the middle of the next write: a truncated temporary file.
	data, err := os.ReadFile(filepath.Join(state, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(state, "journal.tmp-12345")
	if err := os.WriteFile(torn, data[:len(data)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got := s.stack(); !slices.Equal(got, []string{a}) {
		t.Fatalf("stack %v, want [%s]", got, a)
	}
	if ev := s.events(journal.EventCorrupt); len(ev) != 0 {
		t.Fatalf("a torn temporary file was reported: %v", ev)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the torn file is left behind: %v", err)
	}
}

func TestStateDirErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := writeFile(t, root, "file", "x")
	mkdir := func(name string, mode os.FileMode) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, dir string
		want      error
		says      string
	}{
		{"none", "", journal.ErrStateDir, "no state directory"},
		{"missing parent", filepath.Join(root, "no", "state"), journal.ErrStateDir, "nor does its parent"},
		{"a file", file, journal.ErrStateDir, "not a directory"},
		{"world-writable", mkdir("world", 0o777), journal.ErrStateDirUnsafe, "chmod 700"},
		{"group-writable", mkdir("group", 0o770), journal.ErrStateDirUnsafe, "group or others"},
		{"read-only", mkdir("ro", 0o500), journal.ErrStateDirReadOnly, "chmod u+w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tryStart(t, tc.dir, "exe:A", hotswap.KindScript, journal.Options{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Open(%q) = %v, want %v saying %q", tc.dir, err, tc.want, tc.says)
			}
		})
	}
	t.Run("missing, parent exists", func(t *testing.T) {
		dir := filepath.Join(root, "new")
		if _, err := tryStart(t, dir, "exe:A", hotswap.KindScript, journal.Options{}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("created %v, %v; want mode 0700", fi, err)
		}
	})
}

// TestPatchDirectoryDoesNotApplyTwice restarts a server that watches a
// patch directory: the directory's file is applied once, by the journal,
// and its later edit and removal act on that patch.
func TestPatchDirectoryDoesNotApplyTwice(t *testing.T) {
	t.Parallel()
	state, dir := stateDir(t), t.TempDir()
	pa := writeFile(t, dir, "a.txt", "A")
	watch := func(s *server) *patchdir.Dir {
		w, err := patchdir.Watch(context.Background(), s.m, dir, patchdir.Options{Known: s.j.Known, Debounce: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	w := watch(s)
	waitFor(t, func() bool { return len(s.stack()) == 1 })
	a := s.stack()[0]
	s.sync(t)
	w.Close()
	s.stop(t)

	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	gen := s.m.Generation()
	w = watch(s)
	// Wait for the watch to pass over a.txt: a second file, applied
	// after it in name order, says it did.
	writeFile(t, dir, "b.txt", "B")
	waitFor(t, func() bool { return len(s.stack()) == 2 })
	if got := s.stack(); got[0] != a || s.m.Generation() != gen+1 {
		t.Fatalf("stack %v at generation %d; want %s applied once, then b (generation %d)", got, s.m.Generation(), a, gen+1)
	}
	if rej := s.events(hotswap.EventRejected); len(rej) != 0 {
		t.Fatalf("a.txt was loaded again: %v", rej)
	}
	// An edit replaces the re-applied patch; a removal reverts it.
	writeFile(t, dir, "a.txt", "A2")
	waitFor(t, func() bool { return s.greet.Load()() == "A2" && len(s.stack()) == 2 })
	os.Remove(pa)
	waitFor(t, func() bool { return len(s.stack()) == 1 && s.greet.Load()() == "B" })
	w.Close()
	s.stop(t)

	// A new baseline: the directory's contents were superseded and stay
	// unapplied until they change.
	s = start(t, state, "exe:B", hotswap.KindScript, journal.Options{})
	w = watch(s)
	// The watch may see c.txt empty first (os.WriteFile truncates, then
	// writes) and apply that: wait for its content, not for a patch.
	writeFile(t, dir, "c.txt", "C") // applies, after b.txt in name order
	waitFor(t, func() bool { return s.greet.Load()() == "C" })
	if got := s.stack(); len(got) != 1 {
		t.Fatalf("stack %v; want c.txt alone, with b.txt superseded", got)
	}
	writeFile(t, dir, "b.txt", "B, edited")
	waitFor(t, func() bool { return len(s.stack()) == 2 && s.greet.Load()() == "B, edited" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a hang detector
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestPatchDirectoryChangedWhileDown: the directory says what its files
// are. A file removed while the server was down is not applied again; one
// changed applies with its new content only; a patch from elsewhere is
// applied again whatever happened to its file.
func TestPatchDirectoryChangedWhileDown(t *testing.T) {
	t.Parallel()
	state, dir, src := stateDir(t), t.TempDir(), t.TempDir()
	opts := journal.Options{PatchDir: dir}
	s := start(t, state, "exe:A", hotswap.KindScript, opts)
	s.apply(t, writeFile(t, dir, "a.txt", "A"))
	s.apply(t, writeFile(t, dir, "b.txt", "B"))
	c := s.apply(t, writeFile(t, src, "c.txt", "C"))
	s.stop(t)
	os.Remove(filepath.Join(dir, "a.txt"))
	writeFile(t, dir, "b.txt", "B2")
	os.Remove(filepath.Join(src, "c.txt"))

	s = start(t, state, "exe:A", hotswap.KindScript, opts)
	if got := s.stack(); !slices.Equal(got, []string{c}) {
		t.Fatalf("stack %v, want only [%s]", got, c)
	}
	if _, skip := s.j.Known(filepath.Join(dir, "b.txt"), sha256.Sum256([]byte("B2"))); skip {
		t.Fatal("the changed file would not apply")
	}
}
