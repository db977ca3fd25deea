//go:build unix

package manifest

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSourcesFIFO: ReadSources of a FIFO is refused at once,
// never opened for reading (which blocks until a writer comes).
func TestSourcesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "bin")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadSources(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("ReadSources of a FIFO: no error")
		}
	case <-time.After(time.Minute):
		t.Fatal("blocked on a FIFO with no writer")
	}
}
