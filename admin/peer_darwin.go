//go:build darwin

package admin

import (
	"net"

	"golang.org/x/sys/unix"
)

func checkPeerSupport() error { return nil }

// peerCred reads LOCAL_PEERCRED (the uid) and LOCAL_PEERPID.
func peerCred(c *net.UnixConn) (uid, pid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var xu *unix.Xucred
	cerr := raw.Control(func(fd uintptr) {
		xu, err = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	})
	if cerr != nil {
		return -1, 0, cerr
	}
	if err != nil {
		return -1, 0, err
	}
	return int(xu.Uid), pid, nil
}
