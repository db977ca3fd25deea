//go:build darwin || freebsd || netbsd

package watcher

import (
	"io/fs"
	"syscall"
)

type sysKey struct {
	dev, ino, nlink uint64
	ctime           int64
}

func sysKeyOf(fi fs.FileInfo) sysKey {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sysKey{}
	}
	return sysKey{dev: uint64(st.Dev), ino: uint64(st.Ino), nlink: uint64(st.Nlink), ctime: st.Ctimespec.Nano()}
}
