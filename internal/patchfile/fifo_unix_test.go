//go:build unix

package patchfile

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestFIFODoesNotBlock(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "p.go")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := ReadFile(fifo, 0); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("FIFO: err = %v, want ErrNotRegular", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("ReadFile blocked on a FIFO with no writer")
	}
}
