//go:build !linux && !darwin

package admin

import "net"

func checkPeerSupport() error { return ErrNotSupported }

func peerCred(*net.UnixConn) (int, int, error) { return -1, 0, ErrNotSupported }
