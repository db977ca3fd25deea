package patchfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := filepath.Join(dir, "small.go")
	if err := os.WriteFile(small, []byte("package p\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _, err := ReadFile(small, 100); err != nil || string(data) != "package p\n" {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	if _, _, err := ReadFile(small, 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: err = %v, want ErrTooLarge", err)
	}
	big := filepath.Join(dir, "big.go")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 4 GiB file is refused from its size, without reading it.
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var se *SizeError
	if _, _, err := ReadFile(big, 1<<20); !errors.As(err, &se) || se.Size != 4<<30 {
		t.Fatalf("sparse big file: err = %v", err)
	}
	if _, _, err := ReadFile(dir, 0); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("directory: err = %v, want ErrNotRegular", err)
	}
}
