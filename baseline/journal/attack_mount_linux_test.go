package journal_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the size given for the test.
func mountTmpfs(t *testing.T, size string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		return "", errors.New("needs root to mount a tmpfs")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		return "", fmt.Errorf("cannot mount a tmpfs: %w", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir, nil
}
