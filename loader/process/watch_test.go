//go:build linux

package process

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// dropFile writes content into dir/name the way deployments should: write
// a temporary file, then rename it into place.
func dropFile(t *testing.T, dir, name string, content []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestWatchDir drives the loader through the manager's directory watch: a
// *.proc dropped in is applied, a new build under the same name replaces
// it, a bad file is refused while the good one serves, and removing the
// file reverts.
func TestWatchDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	dir := t.TempDir()
	if err := e.mgr.Attach(e.l); err != nil {
		t.Fatal(err)
	}
	w, err := patchdir.Watch(context.Background(), e.mgr, dir, patchdir.Options{Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	bin, err := os.ReadFile(fixtureBin)
	if err != nil {
		t.Fatal(err)
	}
	greet := func() string { return e.s.greet.Load()("w") }

	dropFile(t, dir, "greet.proc", append(bin, "\nfixture-version=v7\n"...))
	eventually(t, 20*time.Second, "v7 to serve", func() bool { return greet() == "hello v7, w" })
	pid7 := e.s.pid.Load()()

	dropFile(t, dir, "greet.proc", append(bin, "\nfixture-version=v8\n"...))
	eventually(t, 20*time.Second, "v8 to serve", func() bool { return greet() == "hello v8, w" })
	eventually(t, 10*time.Second, "v7 to stop", func() bool { return !alive(pid7) })

	junk := make([]byte, 1024)
	rand.Read(junk)
	junk[0] = 'X'
	dropFile(t, dir, "junk.proc", junk)
	eventually(t, 20*time.Second, "junk to be refused", func() bool {
		for _, ev := range e.mgr.History() {
			if ev.Type == hotswap.EventRejected && filepath.Base(ev.Source) == "junk.proc" {
				return true
			}
		}
		return false
	})
	if greet() != "hello v8, w" {
		t.Fatalf("after junk: %q", greet())
	}

	pid8 := e.s.pid.Load()()
	if err := os.Remove(filepath.Join(dir, "greet.proc")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the baseline to serve", func() bool { return greet() == "hello baseline, w" })
	eventually(t, 10*time.Second, "v8 to stop", func() bool { return !alive(pid8) })
}
