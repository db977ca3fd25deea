//go:build unix

// Package filelock takes an exclusive lock of a file (an flock), so that
// the read-modify-write of two processes on one state directory (the old
// and the new one of a baseline step) do not interleave. Where there is
// no flock, Lock locks nothing.
package filelock

import (
	"os"
	"syscall"
)

// Lock opens (creating it, mode 0600) the file at path and takes an
// exclusive flock of it, waiting for it; unlock releases it.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
