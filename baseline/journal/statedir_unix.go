//go:build unix

package journal

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hotpatch-go/hotpatch/internal/filelock"
)

// lockDir takes the state directory's lock (an exclusive flock of its
// file named lock), held while the journal is read and written; the
// returned function releases it.
func lockDir(dir string) (unlock func(), err error) {
	return filelock.Lock(filepath.Join(dir, lockName))
}

// checkPerm refuses a state directory that others may write (they could
// change the code re-applied at the next start), one owned by a user
// other than the process's (or root), or one that its owner may not
// write: the mode bits and the owner are checked, not only a write probe,
// since a process running as root writes through them.
func checkPerm(dir string, fi fs.FileInfo) error {
	perm := fi.Mode().Perm()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
			return fmt.Errorf("%w: %s is owned by uid %d, and this process runs as uid %d: its owner could change the patches re-applied at the next start; chown it to uid %d or choose another directory",
				ErrStateDirUnsafe, dir, uid, os.Geteuid(), os.Geteuid())
		}
	}
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

// holdOwner creates the file owner.<token> in dir and holds a lock on it
// while the journal is open (the system releases it when the process
// ends, however it ends): see ownerAlive. release removes the file.
func holdOwner(dir, token string) (release func(), err error) {
	path := filepath.Join(dir, ownerPrefix+token)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return func() {
		os.Remove(path)
		f.Close()
	}, nil
}

// ownerAlive reports whether the journal named by token is open in a
// running process: its owner file is locked. The file of one that ended
// without closing (kill -9) is removed.
func ownerAlive(dir, token string) bool {
	if !validToken(token) {
		return false
	}
	path := filepath.Join(dir, ownerPrefix+token)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	os.Remove(path)
	return false
}
