package watcher

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestIgnored(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"greet.go":                        false,
		"greet":                           false,
		"greet.so":                        false,
		"greet.proc":                      false,
		"a~b.go":                          false,
		"4913.go":                         false,
		"swp.go":                          false,
		"#greet.go":                       false, // not an auto-save without the closing #
		"":                                true,
		".greet.go.swp":                   true,
		".greet.go.swx":                   true,
		"greet.go.swp":                    true,
		"greet.go.swo":                    true,
		"greet.go.swn":                    true,
		"greet.go~":                       true,
		".#greet.go":                      true,
		"#greet.go#":                      true,
		"4913":                            true,
		"greet.go.tmp":                    true,
		".greet.go.tmp":                   true,
		".hidden.go":                      true,
		"..data":                          true,
		"..data_tmp":                      true,
		"..2026_11_27_10_00_00.123456789": true,
		"greet.go___jb_tmp___":            true,
		"greet.go___jb_old___":            true,
	} {
		if got := ignored(name); got != want {
			t.Errorf("ignored(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestTracker drives the two views through sequences of disk changes
// and deliveries. In a script, "+name=x" records name present with
// content x, "-name" absent, "--" everything gone, and "!" delivers one
// event, written as "Apply name=x" or "Remove name"; "!" with nothing to
// deliver is written "idle".
func TestTracker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script string
		want   string
	}{
		{"apply", "+a=1 !", "Apply a=1"},
		{"nothing", "!", "idle"},
		{"change", "+a=1 ! +a=2 !", "Apply a=1, Apply a=2"},
		{"same content twice", "+a=1 ! +a=1 !", "Apply a=1, idle"},
		{"remove", "+a=1 ! -a !", "Apply a=1, Remove a"},
		{"remove unknown", "-a !", "idle"},
		{"coalesce changes", "+a=1 +a=2 +a=3 !  !", "Apply a=3, idle"},
		{"came and went unseen", "+a=1 -a !", "idle"},
		{"gone and back unchanged", "+a=1 ! -a +a=1 !", "Apply a=1, idle"},
		{"gone and back changed", "+a=1 ! -a +a=2 !", "Apply a=1, Apply a=2"},
		{"changed and back", "+a=1 ! +a=2 +a=1 !", "Apply a=1, idle"},
		{"order of first change", "+b=1 +a=1 +b=2 ! ! !", "Apply b=2, Apply a=1, idle"},
		{"delivered moves to the back", "+a=1 +b=1 ! +a=2 ! !", "Apply a=1, Apply b=1, Apply a=2"},
		{"all gone", "+a=1 +b=1 ! ! +c=1 -- ! ! !", "Apply a=1, Apply b=1, Remove a, Remove b, idle"},
		{"skip", ">a:9 ! !", "Skip a:9, idle"},
		{"applied then too large", "+a=1 ! >a:9 ! -a !", "Apply a=1, Skip a:9, Remove a"},
		{"too large then fits", ">a:9 ! +a=1 !", "Skip a:9, Apply a=1"},
		{"still too large, new size", ">a:9 ! >a:10 ! >a:10 !", "Skip a:9, Skip a:10, idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			var got []string
			for _, step := range strings.Fields(tc.script) {
				switch {
				case step == "!":
					name, op, s, ok := tr.head()
					switch {
					case !ok:
						got = append(got, "idle")
					case op == Skip:
						got = append(got, fmt.Sprintf("Skip %s:%d", name, s.size))
						tr.ack()
					case op == Apply:
						got = append(got, fmt.Sprintf("Apply %s=%c", name, s.sum[0]))
						tr.ack()
					default:
						got = append(got, fmt.Sprintf("Remove %s", name))
						tr.ack()
					}
				case step == "--":
					tr.unsetAll()
				case step[0] == '>':
					name, size, _ := strings.Cut(step[1:], ":")
					n, _ := strconv.Atoi(size)
					tr.skip(name, int64(n))
				case step[0] == '+':
					name, content, _ := strings.Cut(step[1:], "=")
					tr.set(name, sum{content[0]})
				case step[0] == '-':
					tr.unset(step[1:])
				}
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("%s\n got: %s\nwant: %s", tc.script, s, tc.want)
			}
		})
	}
}

func TestReportKeepsNewest(t *testing.T) {
	t.Parallel()
	w := &Watcher{errors: make(chan error, errBacklog)}
	for i := range 3 * errBacklog {
		w.report(fmt.Errorf("error %d", i))
	}
	close(w.errors)
	var got []string
	for err := range w.errors {
		got = append(got, err.Error())
	}
	var want []string
	for i := 2 * errBacklog; i < 3*errBacklog; i++ {
		want = append(want, fmt.Sprintf("error %d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
}

func TestDefaultOptions(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Second} {
		w, err := New(t.TempDir(), Options{Debounce: d})
		if err != nil {
			t.Fatal(err)
		}
		if w.debounce != DefaultDebounce {
			t.Errorf("Debounce %v: using %v, want DefaultDebounce (%v)", d, w.debounce, DefaultDebounce)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOverflowRescans feeds the loop the error fsnotify sends when the
// kernel queue overflowed: it is reported, and a full rescan scheduled
// even though no symlink makes one necessary otherwise.
func TestOverflowRescans(t *testing.T) {
	t.Parallel()
	w := &Watcher{dir: "patches", errors: make(chan error, errBacklog)}
	l := &loop{w: w, links: map[string]bool{}, dirty: map[string]time.Time{}}

	l.handle(fsnotify.Event{Name: "patches/.greet.go.swp", Op: fsnotify.Write}, true)
	if !l.full.IsZero() {
		t.Fatal("an ignored file scheduled a rescan of a directory without symlinks")
	}
	l.handleError(fsnotify.ErrEventOverflow, true)
	if l.full.IsZero() {
		t.Error("no rescan scheduled after an overflow")
	}
	if err := <-w.errors; !errors.Is(err, fsnotify.ErrEventOverflow) {
		t.Errorf("reported %v, want the overflow", err)
	}
}

// TestBigFileDelaysNoOther holds the hashing of a file over inlineMax: a
// small file beside it, and a later change of it, are reported meanwhile;
// the big one follows when its hash ends, and Synced after it.
func TestBigFileDelaysNoOther(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := make([]byte, inlineMax+1)
	if err := os.WriteFile(filepath.Join(dir, "big.go"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "greet.go"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	gate, held := make(chan struct{}), make(chan struct{}, 1)
	w, err := newWatcher(dir, Options{Debounce: 10 * time.Millisecond}, func(name string) {
		if name == "big.go" {
			held <- struct{}{}
			<-gate
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	recv := func() Event {
		t.Helper()
		select {
		case ev := <-w.Events():
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		panic("unreachable")
	}
	<-held
	if ev := recv(); ev.Op != Apply || ev.Name != "greet.go" {
		t.Fatalf("got %v %s, want Apply greet.go while big.go is hashed", ev.Op, ev.Name)
	}
	if err := os.WriteFile(filepath.Join(dir, "greet.go"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ev := recv(); ev.Op != Apply || ev.Name != "greet.go" || ev.Sum != sha256.Sum256([]byte("v2")) {
		t.Fatalf("got %v %s, want Apply greet.go v2 while big.go is hashed", ev.Op, ev.Name)
	}
	close(gate)
	if ev := recv(); ev.Op != Apply || ev.Name != "big.go" || ev.Sum != sha256.Sum256(big) {
		t.Fatalf("got %v %s, want Apply big.go", ev.Op, ev.Name)
	}
	if ev := recv(); ev.Op != Synced {
		t.Fatalf("got %v %s, want Synced", ev.Op, ev.Name)
	}
}
