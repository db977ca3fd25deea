package watcher_test

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	write(t, file, "x")

	for _, tc := range []struct {
		name string
		dir  string
		is   error
	}{
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist},
		{"empty", "", fs.ErrNotExist},
		{"file", file, watcher.ErrNotDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := watcher.New(tc.dir, watcher.Options{})
			if err == nil {
				w.Close()
				t.Fatalf("New(%q) succeeded", tc.dir)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("New(%q) = %v, want an error matching %v", tc.dir, err, tc.is)
			}
		})
	}
}

func TestOpString(t *testing.T) {
	t.Parallel()
	for op, want := range map[watcher.Op]string{
		watcher.Apply:  "Apply",
		watcher.Remove: "Remove",
		0:              "Op(0)",
		7:              "Op(7)",
	} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", int(op), got, want)
		}
	}
}

func TestInitialScan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"b.go":          "package b",
		"a.so":          "ELF",
		"c.proc":        "#!",
		"README.md":     "not matched",
		".hidden.go":    "hidden",
		".greet.go.swp": "swap",
		"greet.go~":     "backup",
		"4913":          "",
	} {
		write(t, filepath.Join(dir, name), content)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.go"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub.go", "inner.go"), "not watched")
	if err := os.Symlink("b.go", filepath.Join(dir, "link.go")); err != nil {
		t.Fatal(err)
	}

	w := start(t, dir, watcher.Options{Debounce: fast, Match: goFiles})
	// One scan, reported in name order.
	is(t, next(t, w), dir, watcher.Apply, "a.so", "ELF")
	is(t, next(t, w), dir, watcher.Apply, "b.go", "package b")
	is(t, next(t, w), dir, watcher.Apply, "c.proc", "#!")
	is(t, next(t, w), dir, watcher.Apply, "link.go", "package b")
	none(t, barrier(t, w, dir))
}

func TestChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before map[string]string // files present before New
		links  map[string]string // symlinks present before New: name -> target
		change func(t *testing.T, dir string)
		want   []watcher.Event // Sum holds the content's sum
	}{{
		name: "create",
		change: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "greet.go"), "v1")
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v1")}},
	}, {
		name:   "write then rename, hidden temp",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			writeRename(t, filepath.Join(dir, "greet.go"), ".greet.go.12345", "v2")
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v2")}},
	}, {
		name: "write then rename, .tmp temp",
		change: func(t *testing.T, dir string) {
			writeRename(t, filepath.Join(dir, "greet.go"), "greet.go.tmp", "v1")
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v1")}},
	}, {
		name:   "in-place rewrite",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "greet.go"), "v2")
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v2")}},
	}, {
		name:   "remove",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "greet.go")); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Remove, Name: "greet.go"}},
	}, {
		name:   "rename out of the directory",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			out := filepath.Join(t.TempDir(), "greet.go")
			if err := os.Rename(filepath.Join(dir, "greet.go"), out); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Remove, Name: "greet.go"}},
	}, {
		name:   "rename to an ignored name",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "greet.go"), filepath.Join(dir, "greet.go~")); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Remove, Name: "greet.go"}},
	}, {
		name:   "rename within the directory",
		before: map[string]string{"old.go": "v1"},
		change: func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "old.go"), filepath.Join(dir, "new.go")); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{ // by name
			{Op: watcher.Apply, Name: "new.go", Sum: sumOf("v1")},
			{Op: watcher.Remove, Name: "old.go"},
		},
	}, {
		name:   "identical re-save, in place and by rename, and touch",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			path := filepath.Join(dir, "greet.go")
			write(t, path, "v1")
			writeRename(t, path, ".greet.go.tmp", "v1")
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:   "file replaced by a directory",
		before: map[string]string{"greet.go": "v1"},
		change: func(t *testing.T, dir string) {
			path := filepath.Join(dir, "greet.go")
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Remove, Name: "greet.go"}},
	}, {
		name: "created and removed while settling",
		change: func(t *testing.T, dir string) {
			path := filepath.Join(dir, "greet.go")
			write(t, path, "v1")
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:   "symlink swapped by rename",
		before: map[string]string{"v1.txt": "v1", "v2.txt": "v2"},
		change: func(t *testing.T, dir string) {
			if err := os.Symlink("v1.txt", filepath.Join(dir, "greet.go")); err != nil {
				t.Fatal(err)
			}
			next := filepath.Join(dir, ".greet.go.link")
			if err := os.Symlink("v2.txt", next); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(next, filepath.Join(dir, "greet.go")); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v2")}},
	}, {
		name:   "symlink target rewritten",
		before: map[string]string{"greet.txt": "v1"},
		links:  map[string]string{"greet.go": "greet.txt"},
		change: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "greet.txt"), "v2")
		},
		want: []watcher.Event{{Op: watcher.Apply, Name: "greet.go", Sum: sumOf("v2")}},
	}, {
		name:   "symlink target removed",
		before: map[string]string{"greet.txt": "v1"},
		links:  map[string]string{"greet.go": "greet.txt"},
		change: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "greet.txt")); err != nil {
				t.Fatal(err)
			}
		},
		want: []watcher.Event{{Op: watcher.Remove, Name: "greet.go"}},
	}, {
		name:   "symlink left dangling",
		before: map[string]string{"v1.txt": "v1"},
		change: func(t *testing.T, dir string) {
			if err := os.Symlink("v1.txt", filepath.Join(dir, "greet.go")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, "v1.txt")); err != nil {
				t.Fatal(err)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.before {
				write(t, filepath.Join(dir, name), content)
			}
			for name, target := range tc.links {
				if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			w := start(t, dir, watcher.Options{Debounce: fast, Match: goFiles})
			initial := view{}.apply(barrier(t, w, dir)...)
			for _, entries := range []map[string]string{tc.before, tc.links} {
				for name := range entries {
					if _, ok := initial[name]; goFiles(name) && !ok {
						t.Fatalf("initial scan did not report %s", name)
					}
				}
			}

			quick := within(t, fast, func() { tc.change(t, dir) })
			// Changes that happen together may be reported in either
			// order; compare by name.
			got := byName(barrier(t, w, dir))
			if !quick {
				gotView := maps.Clone(initial).apply(got...)
				wantView := maps.Clone(initial).apply(tc.want...)
				if !maps.Equal(gotView, wantView) {
					t.Fatalf("got %s, which does not end in the state of %s", describeAll(got), describeAll(tc.want))
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %s, want %d events", describeAll(got), len(tc.want))
			}
			for i, want := range tc.want {
				want.Path = filepath.Join(dir, want.Name)
				if got[i] != want {
					t.Errorf("event %d: got %s, want %s", i, describe(got[i]), describe(want))
				}
			}
		})
	}
}

func TestIgnoredNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := start(t, dir, watcher.Options{Debounce: fast}) // no Match: only the built-in rules
	none(t, barrier(t, w, dir))

	for _, name := range []string{
		".greet.go.swp", ".greet.go.swx", "greet.go.swp", "greet.go.swo",
		"greet.go~", ".#greet.go", "#greet.go#", "4913", "greet.go.tmp",
		".hidden", "..data", "..2026_11_27_10_00_00.123456789",
		"greet.go___jb_tmp___", "greet.go___jb_old___",
	} {
		write(t, filepath.Join(dir, name), "ignored")
	}
	write(t, filepath.Join(dir, "greet.go.swp"), "written again")
	writeRename(t, filepath.Join(dir, "README"), ".README.tmp", "plain")
	got := barrier(t, w, dir)
	if len(got) != 1 {
		t.Fatalf("got %s, want only README", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "README", "plain")
}

// TestRepeatedWrites rewrites a file in place many times within one
// debounce period: only the final content may be reported, once.
func TestRepeatedWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The writes below take microseconds; a long debounce keeps a
	// scheduling hiccup between two of them from looking like quiet.
	const debounce = 500 * time.Millisecond
	w := start(t, dir, watcher.Options{Debounce: debounce})
	none(t, barrier(t, w, dir))

	path := filepath.Join(dir, "greet.go")
	var last string
	quick := within(t, debounce, func() {
		for i := range 50 {
			last = "version " + string(rune('A'+i%26)) + string(rune('a'+i/26))
			write(t, path, last)
		}
	})
	got := barrier(t, w, dir)
	if !quick && len(got) > 0 {
		got = got[len(got)-1:]
	}
	if len(got) != 1 {
		t.Fatalf("got %s, want one event", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "greet.go", last)
}

// TestPartialWrite truncates a file, writes half of the new content,
// pauses, then completes it: the half must never be reported.
func TestPartialWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "greet.go")
	write(t, path, "old content")
	const debounce = 500 * time.Millisecond
	w := start(t, dir, watcher.Options{Debounce: debounce})
	got := barrier(t, w, dir)
	if len(got) != 1 {
		t.Fatalf("initial: got %s", describeAll(got))
	}

	full := "package patch\n\nfunc Greet(name string) string { return \"hi \" + name }\n"
	quick := within(t, debounce, func() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(full[:20]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the half is on disk; the writer pauses
		if _, err := f.WriteString(full[20:]); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	})

	got = barrier(t, w, dir)
	if !quick && len(got) > 0 {
		got = got[len(got)-1:]
	}
	if len(got) != 1 {
		t.Fatalf("got %s, want one event", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "greet.go", full)
}

// TestDebounce checks that nothing is read before the quiet period
// ends, with a period no test run can reach.
func TestDebounce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "present.go"), "v1")
	w := start(t, dir, watcher.Options{Debounce: time.Hour})
	write(t, filepath.Join(dir, "greet.go"), "v1")
	select {
	case ev := <-w.Events():
		t.Fatalf("got %s before the debounce period", describe(ev))
	case <-time.After(300 * time.Millisecond):
	}
}

// TestSlowReader leaves events unread while a file changes many times:
// the reader then sees the latest state only, and nothing is lost.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := start(t, dir, watcher.Options{Debounce: 5 * time.Millisecond})
	none(t, barrier(t, w, dir))

	path := filepath.Join(dir, "greet.go")
	gone := filepath.Join(dir, "gone.go")
	for i := range 20 {
		write(t, path, "v"+string(rune('a'+i)))
		write(t, gone, "short-lived")
		time.Sleep(10 * time.Millisecond) // settle, so there is something to hold
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, "final")

	got := barrier(t, w, dir)
	if len(got) == 0 {
		t.Fatal("no events")
	}
	// However the reads interleaved with the writes, the last word on
	// each file is its final state.
	last := map[string]watcher.Event{}
	for _, ev := range got {
		last[ev.Name] = ev
	}
	is(t, last["greet.go"], dir, watcher.Apply, "greet.go", "final")
	if ev, ok := last["gone.go"]; ok {
		is(t, ev, dir, watcher.Remove, "gone.go", "")
	}
}

// TestDirectoryGone removes or renames the watched directory, then
// creates it again: every file counts as removed meanwhile, and the
// watch resumes on the new directory with Resumed after its files.
func TestDirectoryGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		gone func(dir string) error
	}{
		{"removed", os.RemoveAll},
		{"renamed", func(dir string) error { return os.Rename(dir, dir+".old") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "patches")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "greet.go"), "v1")
			w := start(t, dir, watcher.Options{Debounce: fast, Recheck: 2 * fast})
			is(t, next(t, w), dir, watcher.Apply, "greet.go", "v1")

			if err := tc.gone(dir); err != nil {
				t.Fatal(err)
			}
			is(t, next(t, w), dir, watcher.Remove, "greet.go", "")
			select {
			case err := <-w.Errors():
				if !errors.Is(err, watcher.ErrDirRemoved) {
					t.Errorf("Errors: %v, want ErrDirRemoved", err)
				}
			case <-time.After(patience):
				t.Fatal("no ErrDirRemoved on Errors")
			}

			// It comes back, with other content: the watch resumes.
			tmp := filepath.Join(filepath.Dir(dir), "new")
			if err := os.Mkdir(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(tmp, "greet.go"), "v2")
			write(t, filepath.Join(tmp, "other.go"), "o1")
			if err := os.Rename(tmp, dir); err != nil {
				t.Fatal(err)
			}
			got := []watcher.Event{next(t, w), next(t, w), next(t, w)}
			is(t, got[0], dir, watcher.Apply, "greet.go", "v2")
			is(t, got[1], dir, watcher.Apply, "other.go", "o1")
			if got[2].Op != watcher.Resumed {
				t.Fatalf("got %s, want Resumed", describe(got[2]))
			}
			// And it is watched again.
			write(t, filepath.Join(dir, "greet.go"), "v3")
			is(t, next(t, w), dir, watcher.Apply, "greet.go", "v3")
		})
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := watcher.New(dir, watcher.Options{Debounce: fast})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	if _, ok := <-w.Events(); ok {
		t.Error("Events still open after Close")
	}
	if _, ok := <-w.Errors(); ok {
		t.Error("Errors still open after Close")
	}
}

// TestCloseWithPendingEvents closes a watcher whose events nobody reads.
func TestCloseWithPendingEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"a.go", "b.go", "c.go"} {
		write(t, filepath.Join(dir, name), name)
	}
	w, err := watcher.New(dir, watcher.Options{Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "d.go"), "d")
	time.Sleep(50 * time.Millisecond) // usually long enough to block on a send; either way Close must return

	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Close hung with undelivered events")
	}
}

// TestCloseWhileHashing closes the watcher while it reads a file far too
// big to finish reading within the test's patience.
func TestCloseWhileHashing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge.go"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(1 << 40) // a hole: no disk space used, 1 TiB of zeros to read
	f.Close()
	if err != nil {
		t.Skipf("no sparse file: %v", err)
	}
	w, err := watcher.New(dir, watcher.Options{Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let it start reading

	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Close waited for the file to be read")
	}
}

// TestConcurrentWriters has several writers change, rename and remove
// files while the events are read: once they stop, what the reader was
// told must be exactly what is on disk.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := start(t, dir, watcher.Options{Debounce: 2 * time.Millisecond})

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			name := filepath.Join(dir, string(rune('a'+g))+".go")
			for i := range 40 {
				content := []byte(name + string(rune('A'+i%26)))
				var err error
				switch i % 4 {
				case 0, 1:
					err = os.WriteFile(name, content, 0o644)
				case 2:
					tmp := name + ".tmp"
					if err = os.WriteFile(tmp, content, 0o644); err == nil {
						err = os.Rename(tmp, name)
					}
				case 3:
					err = os.Remove(name)
				}
				if err != nil {
					errs <- err
					return
				}
				if i%8 == 0 {
					time.Sleep(3 * time.Millisecond)
				}
			}
		})
	}

	told := map[string][32]byte{} // what the reader was told
	apply := func(ev watcher.Event) {
		switch ev.Op {
		case watcher.Apply:
			told[ev.Name] = ev.Sum
		case watcher.Remove:
			if _, ok := told[ev.Name]; !ok {
				t.Errorf("Remove %s, which was never applied", ev.Name)
			}
			delete(told, ev.Name)
		}
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	for waiting := true; waiting; {
		select {
		case ev := <-w.Events():
			apply(ev)
		case <-writersDone:
			waiting = false
		case <-time.After(patience):
			t.Fatal("writers did not finish")
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, ev := range barrier(t, w, dir) {
		apply(ev)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	disk := map[string][32]byte{}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && !e.IsDir() && e.Name()[0] != 'z' {
			disk[e.Name()] = sumOf(string(b))
		}
	}
	for name := range told {
		if name[0] == 'z' {
			delete(told, name) // barrier markers
		}
	}
	if len(told) != len(disk) {
		t.Errorf("reader knows %d files, disk has %d", len(told), len(disk))
	}
	for name, s := range disk {
		if got := told[name]; got != s {
			t.Errorf("%s: reader has sum %x, disk %x", name, got[:4], s[:4])
		}
	}
}
