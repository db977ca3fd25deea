//go:build unix

package patchbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPrepareFIFOBaseline: a FIFO given as the baseline is refused at
// once, never opened for reading (which blocks until a writer comes).
func TestPrepareFIFOBaseline(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "server")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	src := filepath.Join(dir, "p.go")
	os.WriteFile(src, []byte("package p\n\n//hotpatch:slot a.B\nfunc F() {}\n"), 0o644)
	done := make(chan error, 1)
	go func() { _, err := Prepare(context.Background(), Options{Baseline: fifo, Source: src}); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBaseline) {
			t.Errorf("err = %v, want ErrBaseline", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("blocked on a FIFO with no writer")
	}
}
