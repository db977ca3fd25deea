package watcher

import "io/fs"

// statKey is what the periodic recheck compares to notice a change that
// came with no event in the directory: a write through a hard link
// elsewhere, or to a symlink's target outside the directory. It holds
// the size, times and identity of the file an entry resolves to.
type statKey struct {
	size  int64
	mtime int64 // unix nanoseconds
	mode  fs.FileMode
	sys   sysKey // device, inode, change time and link count, where the platform has them
}

func keyOf(fi fs.FileInfo) statKey {
	return statKey{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode(), sys: sysKeyOf(fi)}
}
