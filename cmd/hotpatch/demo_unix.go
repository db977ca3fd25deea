//go:build unix

package main

import (
	"errors"
	"os/exec"
	"syscall"
)

// demoSupported: the demo starts the server in a process group of its own,
// so that the terminal's Ctrl-C reaches the demo only, which then stops
// the whole group: the server, the process that took over at the baseline
// step, and the process patches.
const demoSupported = true

func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the process group pgid; it reports whether a
// process of the group was left to signal.
func signalGroup(pgid int, sig syscall.Signal) bool {
	err := syscall.Kill(-pgid, sig)
	return !errors.Is(err, syscall.ESRCH)
}

func termGroup(pgid int) bool { return signalGroup(pgid, syscall.SIGTERM) }
func killGroup(pgid int) bool { return signalGroup(pgid, syscall.SIGKILL) }

// groupAlive reports whether a process of the group pgid still runs. A
// zombie does not count: one whose parent never reaps it (a process
// re-parented to a subreaper that does not wait for it, such as a test
// binary) would keep the group "alive" for ever.
func groupAlive(pgid int) bool { return groupRunning(pgid) }
