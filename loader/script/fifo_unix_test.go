//go:build unix

package script_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestLoadFIFO checks that a FIFO named like a script is refused at once:
// opening it for reading would block until a writer came, and hold the
// directory watch behind it.
func TestLoadFIFO(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fifo := filepath.Join(e.dir, "pipe.go")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	_, err := loadBounded(t, e.loader(script.Options{}), e.host, fifo)
	if !errors.Is(err, script.ErrNotRegular) || !strings.HasPrefix(err.Error(), fifo+": ") || !strings.Contains(err.Error(), "p") {
		t.Errorf("FIFO: %v", err)
	}
}
