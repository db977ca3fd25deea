package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("new"), Options{Perm: 0o640}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "new" || fi.Mode().Perm() != 0o640 {
		t.Errorf("got %q mode %v, want \"new\" 0640", b, fi.Mode().Perm())
	}
	onlyFiles(t, dir, "f")
}

func TestWriteDefaultMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteBytes(path, nil, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// A failed write leaves the old file and no temporary file behind.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("old"), 0o600)
	boom := errors.New("boom")
	err := Write(path, Options{}, func(f *os.File) error {
		f.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after a failed write: %q", b)
	}
	onlyFiles(t, dir, "f")
}

// A rename that cannot happen (the target is a directory) removes the
// temporary file too.
func TestWriteRenameFails(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "d")
	os.Mkdir(target, 0o700)
	os.WriteFile(filepath.Join(target, "x"), nil, 0o600)
	if err := WriteBytes(target, []byte("x"), Options{}); err == nil {
		t.Fatal("renaming over a non-empty directory succeeded")
	}
	onlyFiles(t, dir, "d")
}

func TestWriteTempDirAndPattern(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	var seen string
	err := Write(filepath.Join(dir, "f"), Options{TempDir: tmp, Pattern: "f.tmp-*"}, func(f *os.File) error {
		seen = f.Name()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(seen) != tmp || filepath.Base(seen)[:6] != "f.tmp-" {
		t.Errorf("temporary file %s, want %s/f.tmp-*", seen, tmp)
	}
	onlyFiles(t, dir, "f")
	onlyFiles(t, tmp)
}

func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s holds %v, want %v", dir, got, want)
		}
	}
}
