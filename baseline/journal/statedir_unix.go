//go:build unix

package journal

import (
	"fmt"
	"io/fs"
	"os"
)

// checkPerm refuses a state directory that others may write (they could
// change the code re-applied at the next start) or that its owner may
// not: the mode bits are checked, not only a write probe, since a
// process running as root writes through them.
func checkPerm(dir string, fi fs.FileInfo) error {
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v: group or others may write it, and so change the patches re-applied at the next start; chmod 700 it",
			ErrStateDirUnsafe, dir, perm)
	}
	if perm&0o200 == 0 {
		return fmt.Errorf("%w: %s has mode %v: its owner may not write it; chmod u+w it (700) or choose another directory",
			ErrStateDirReadOnly, dir, perm)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
