//go:build unix

package hotpatch

import (
	"os"
	"syscall"
)

// lockMarks takes an exclusive flock of the marks file's lock file
// (path + ".lock"), so that the read-merge-write of two processes on one
// state directory (the old and the new one of a baseline step) do not
// interleave; unlock releases it.
func lockMarks(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
