package journal_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// tinyFS mounts a 256 KiB tmpfs for the test, or skips it (not root, or
// no right to mount).
func tinyFS(t *testing.T) string {
	t.Helper()
	dir, err := mountTmpfs(t, "256k")
	if err != nil {
		t.Skip(err)
	}
	return dir
}

// fill writes a file into dir until the file system is full, and returns
// its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return path
		}
	}
}

// TestAttackFullDisk: a patch applied while the state directory's disk
// is full makes Sync fail; once there is room again, Sync succeeds only
// when the patch can be applied again after a restart (its copy is kept
// then).
func TestAttackFullDisk(t *testing.T) {
	t.Parallel()
	fs, src := tinyFS(t), t.TempDir()
	state := filepath.Join(fs, "state")
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))

	filler := fill(t, fs)
	l := s.m.Loaders()[0]
	p, err := s.m.Load(context.Background(), l, writeFile(t, src, "b.txt", string(bytes.Repeat([]byte("B"), 8192))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.j.Sync(ctx); err == nil {
		t.Error("Sync with a full disk succeeded")
	}
	if len(s.events(journal.EventError)) == 0 {
		t.Error("no journal-error event for the full disk")
	}
	os.Remove(filler)
	if err := s.j.Sync(ctx); err != nil {
		t.Fatalf("Sync once there is room again: %v", err)
	}
	s.stop(t)
	s = start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	if got, want := s.stack(), []string{a, p.ID}; !slices.Equal(got, want) {
		t.Fatalf("after a restart: stack %v, want %v (Sync said it was on disk); events %v", got, want, s.hist())
	}
}
