//go:build unix && !linux

package main

import "syscall"

// groupRunning reports whether a process of the group pgid is left to
// signal (a zombie counts: there is no /proc to tell).
func groupRunning(pgid int) bool { return signalGroup(pgid, syscall.Signal(0)) }
