package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckModeReadOnlyMount: a directory that is a read-only mount (as a
// Kubernetes ConfigMap volume is: mode 0777, mounted read-only, inside a
// writable emptyDir) is not refused for its mode bits or its parent's; the
// same directory unmounted is.
func TestCheckModeReadOnlyMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "patches")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := CheckMode(dir, 0o022); !errors.Is(err, ErrInsecureMode) {
		t.Fatalf("an open directory, not mounted: %v, want ErrInsecureMode", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_RDONLY, "mode=0777,size=64k"); err != nil {
		t.Skipf("mount a read-only tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := CheckMode(dir, 0o022); err != nil {
		t.Fatalf("a read-only mount of mode 0777 in an open parent: %v", err)
	}
}
