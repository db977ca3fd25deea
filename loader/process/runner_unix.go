//go:build unix && !linux

package process

import "syscall"

// sysAttr says how a plugin should die with its host; this platform has no
// parent-death signal, so it only matters on Linux.
type sysAttr struct{ cleans bool }

// sysProcAttr puts the plugin in its own process group, so that what it
// spawns can be killed with it. Without a parent-death signal on this
// platform, hotpatch's own plugins exit when they see their parent change
// (see Serve).
func sysProcAttr(sysAttr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// killTree kills the plugin's process group; descendants that left it
// cannot be listed on this platform.
func killTree(pid int) { killGroup(pid) }

// waitExited cannot wait without reaping here: the group is killed right
// after the plugin is reaped, which leaves a short window in which its
// group ID could be reused.
func waitExited(int) bool { return false }
