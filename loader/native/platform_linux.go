//go:build linux && cgo

package native

import (
	"bufio"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

func supported() error { return nil }

// isMapped reports whether the file at path is mapped into this process:
// after a failed plugin.Open, whether dlopen got as far as mapping it
// (Go refuses a plugin after dlopen has mapped it and run its ELF
// initializers, and nothing unmaps it then).
func isMapped(path string) bool {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return true // cannot tell: count it, to err on the side of the cap
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " "+path) {
			return true
		}
	}
	return false
}

func ownedByUs(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
