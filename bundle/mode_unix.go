//go:build unix

package bundle

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

func checkMode(path string, forbidden fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := checkOwner(path, fi); err != nil {
		return err
	}
	// What is on a read-only mount (a Kubernetes ConfigMap or Secret
	// volume: mode 0777 with defaultMode, mounted read-only) cannot be
	// written by anyone, whatever its mode says.
	if fi.Mode().Perm()&forbidden != 0 && !readOnlyMount(path) {
		return &ModeError{Path: path, Mode: fi.Mode(), Dir: fi.IsDir(), Bits: forbidden}
	}
	// The parent is judged for a directory as for a file: who may rename
	// entries of the parent may put another directory in this one's place.
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	dir := filepath.Dir(abs)
	if dir == abs { // the root
		return nil
	}
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if fi.IsDir() && mountPoint(fi, di) {
		// A mount point cannot be renamed or replaced while it is
		// mounted, whoever may write its parent.
		return nil
	}
	if di.Mode().Perm()&0o022 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return &ModeError{Path: dir, Mode: di.Mode(), Dir: true, Bits: 0o022}
	}
	if di.Mode()&fs.ModeSticky == 0 { // a sticky /tmp belongs to root anyway
		return checkOwner(dir, di)
	}
	return nil
}

// mountPoint reports whether the directory fi is a mount point: its
// device differs from its parent's (di).
func mountPoint(fi, di fs.FileInfo) bool {
	a, ok1 := fi.Sys().(*syscall.Stat_t)
	b, ok2 := di.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && a.Dev != b.Dev
}

// checkOwner refuses a path owned by another user than root and the
// process's effective user: that user may chmod it and write it.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid, me := int(st.Uid), os.Geteuid()
	if uid == 0 || uid == me {
		return nil
	}
	return &ModeError{Path: path, Mode: fi.Mode(), Dir: fi.IsDir(), WrongOwner: true, UID: uid}
}
