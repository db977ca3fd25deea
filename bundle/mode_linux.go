package bundle

import "golang.org/x/sys/unix"

// readOnlyMount reports whether path is on a file system mounted read-only.
func readOnlyMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}
