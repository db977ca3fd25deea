package native

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
)

func TestInspectRefusesNonPatches(t *testing.T) {
	self, err := os.Executable() // an ELF executable, not a shared object
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":      nil,
		"text":       []byte("package main\n"),
		"executable": exe,
		"elf magic":  []byte("\x7fELF\x02\x01\x01"),
	} {
		if _, err := inspect(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotPatch) {
			t.Errorf("%s: err = %v, want ErrNotPatch", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "x.so")
	os.WriteFile(path, []byte("nope"), 0o644)
	if _, err := readManifest(path); !errors.Is(err, ErrNotPatch) || !strings.Contains(err.Error(), path) {
		t.Errorf("readManifest: %v", err)
	}
}

// TestInspectNotELF: a file that is not ELF at all, short or long, is
// said to be that, not "EOF".
func TestInspectNotELF(t *testing.T) {
	for _, data := range []string{"", "junk\n", "this is not an ELF file but long enough for its header"} {
		_, err := inspect(strings.NewReader(data), int64(len(data)))
		if msg := fmt.Sprint(err); !errors.Is(err, ErrNotPatch) || !strings.Contains(msg, "not an ELF file") || strings.Contains(msg, "EOF") {
			t.Errorf("%q: err = %v, want ErrNotPatch saying not an ELF file, without EOF", data, err)
		}
	}
}

// TestInspectTruncated: an ELF file cut short (a copy in progress, a full
// disk) is said to be truncated, not "not an ELF file: EOF".
func TestInspectTruncated(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{64, 100, 4096, len(exe) / 2, len(exe) - 1} {
		_, err := inspect(bytes.NewReader(exe[:n]), int64(n))
		if !errors.Is(err, ErrNotPatch) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("first %d bytes: err = %v, want ErrNotPatch saying truncated", n, err)
		}
	}
}

func TestPatchIDAsLoader(t *testing.T) {
	data := []byte("some patch bytes")
	if got, want := patchID("dir/greet.so", sha256.Sum256(data)), loader.PatchID("dir/greet.so", data); got != want {
		t.Fatalf("patchID = %q, loader.PatchID = %q", got, want)
	}
}

func TestJoinErrorsOneLine(t *testing.T) {
	a, b := errors.New("slot \"x\": unknown"), ErrBadExport
	err := joinErrors(nil, a, nil, b)
	if err.Error() != a.Error()+"; "+b.Error() || !errors.Is(err, ErrBadExport) || !errors.Is(err, a) {
		t.Errorf("joinErrors = %q", err)
	}
	if joinErrors(nil, nil) != nil || joinErrors(a) != a {
		t.Errorf("joinErrors of nothing or one error")
	}
}

// TestRelativeDir: a relative Options.Dir is made absolute by New, so a
// later chdir of the process does not move the loader's private copies.
func TestRelativeDir(t *testing.T) {
	l := New(Options{Dir: "copies"})
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "copies"); l.opts.Dir != want {
		t.Errorf("Dir = %q, want %q", l.opts.Dir, want)
	}
}
