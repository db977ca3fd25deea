//go:build unix

package native_test

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/native"
)

// TestLoadFIFO: a FIFO where a patch was expected is refused at once,
// never opened for reading (which blocks until a writer comes).
func TestLoadFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "p.so")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	e := newEnv(t, native.Options{})
	done := make(chan error, 2)
	go func() { _, err := e.l.Load(context.Background(), e.mgr, fifo); done <- err }()
	go func() { _, err := native.ReadManifest(fifo); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("err = %v, want a refusal of a non-regular file", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("blocked on a FIFO with no writer")
		}
	}
}
