package watcher_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/watcher"
)

// configMapVolume writes a directory the way the kubelet's AtomicWriter
// maintains a ConfigMap or Secret volume:
//
//	..2026_11_27_10_00_00.123456789/greet.go   the real files
//	..data -> ..2026_11_27_10_00_00.123456789   the current version
//	greet.go -> ..data/greet.go                 what the pod sees
//
// An update writes a new timestamped directory, points "..data_tmp" at it,
// renames "..data_tmp" over "..data" (the atomic step), adds links for new
// keys, removes links of gone keys and removes the old directory.
type configMapVolume struct {
	t     *testing.T
	dir   string
	ts    string // current timestamped directory, "" before the first update
	files map[string]string
}

// update makes files the volume's content. Each file is written in two
// halves with halfway called in between, to show that a file under
// construction is never visible through the volume.
func (v *configMapVolume) update(ts string, files map[string]string, halfway func()) {
	t := v.t
	t.Helper()
	tsDir := filepath.Join(v.dir, ts)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	open := map[string]*os.File{}
	for name, content := range files {
		f, err := os.Create(filepath.Join(tsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		open[name] = f
		if _, err := f.WriteString(content[:len(content)/2]); err != nil {
			t.Fatal(err)
		}
	}
	if halfway != nil {
		halfway()
	}
	for name, f := range open {
		if _, err := f.WriteString(files[name][len(files[name])/2:]); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}

	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if _, ok := v.files[name]; !ok {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range v.files {
		if _, ok := files[name]; !ok {
			if err := os.Remove(filepath.Join(v.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v.ts != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.ts)); err != nil {
			t.Fatal(err)
		}
	}
	v.ts, v.files = ts, maps.Clone(files)
}

func TestConfigMapVolume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vol := &configMapVolume{t: t, dir: dir}
	vol.update("..2026_11_27_10_00_00.123456789", map[string]string{
		"greet.go":    "package patch // greet v1",
		"same.go":     "package patch // same",
		"old.go":      "package patch // old",
		"config.yaml": "not a patch",
	}, nil)

	// The exact layout, as a kubelet leaves it.
	for link, target := range map[string]string{
		"..data":   "..2026_11_27_10_00_00.123456789",
		"greet.go": "..data/greet.go",
		"same.go":  "..data/same.go",
	} {
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != target {
			t.Fatalf("%s -> %q (%v), want -> %q", link, got, err, target)
		}
	}

	w := start(t, dir, watcher.Options{Debounce: fast, Match: goFiles})
	got := byName(barrier(t, w, dir))
	if len(got) != 3 {
		t.Fatalf("initial scan: got %s, want 3 events", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "greet.go", "package patch // greet v1")
	is(t, got[1], dir, watcher.Apply, "old.go", "package patch // old")
	is(t, got[2], dir, watcher.Apply, "same.go", "package patch // same")

	// Update: greet.go changes, same.go does not, old.go goes, new.go
	// comes. Halfway through writing, nothing may have been reported.
	vol.update("..2026_11_27_10_05_00.987654321", map[string]string{
		"greet.go":    "package patch // greet v2",
		"same.go":     "package patch // same",
		"new.go":      "package patch // new",
		"config.yaml": "changed, still not a patch",
	}, func() {
		quiet := time.After(10 * fast)
		for {
			select {
			case ev := <-w.Events():
				if ev.Op == watcher.Synced {
					continue // the end of the first scan
				}
				t.Errorf("reported %s while the new version was being written", describe(ev))
			case <-quiet:
			}
			return
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "..2026_11_27_10_00_00.123456789")); !os.IsNotExist(err) {
		t.Fatalf("old version directory still there: %v", err)
	}
	got = byName(barrier(t, w, dir))
	if len(got) != 3 {
		t.Fatalf("update: got %s, want 3 events", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "greet.go", "package patch // greet v2")
	is(t, got[1], dir, watcher.Apply, "new.go", "package patch // new")
	is(t, got[2], dir, watcher.Remove, "old.go", "")

	// A second swap, to show the watcher follows "..data" across
	// versions: only same.go changes.
	vol.update("..2026_11_27_10_10_00.555555555", map[string]string{
		"greet.go": "package patch // greet v2",
		"same.go":  "package patch // same, at last changed",
		"new.go":   "package patch // new",
	}, nil)
	got = barrier(t, w, dir)
	if len(got) != 1 {
		t.Fatalf("second update: got %s, want 1 event", describeAll(got))
	}
	is(t, got[0], dir, watcher.Apply, "same.go", "package patch // same, at last changed")
}

func byName(evs []watcher.Event) []watcher.Event {
	return slices.SortedFunc(slices.Values(evs), func(a, b watcher.Event) int {
		return strings.Compare(a.Name, b.Name)
	})
}
