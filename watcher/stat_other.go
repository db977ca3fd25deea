//go:build !(linux || openbsd || dragonfly || darwin || freebsd || netbsd)

package watcher

import "io/fs"

// sysKey is empty where the platform's stat has no portable inode and
// change time: the recheck compares size, modification time and mode.
type sysKey struct{}

func sysKeyOf(fs.FileInfo) sysKey { return sysKey{} }
