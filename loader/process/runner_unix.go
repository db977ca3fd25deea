//go:build unix && !linux

package process

import "syscall"

// sysProcAttr puts the plugin in its own process group, so that Kill also
// stops what it spawned. Without a parent-death signal on this platform,
// the plugin exits when it sees its parent change (see Serve).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
