package procplugin

import (
	"os"
	"syscall"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/proctree"
	"golang.org/x/sys/unix"
)

// becomeSubreaper makes the plugin the reaper of its orphaned descendants:
// a descendant that daemonizes (forks, leaves the process group or the
// session, and lets its parent exit) is re-parented to the plugin instead
// of init, so that killDescendants still finds it.
func becomeSubreaper() {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// killDescendants kills every descendant of the plugin and every other
// member of its process group, pass after pass until none is left (one
// may fork while the others are killed), for at most about a second.
func killDescendants() {
	self, group := os.Getpid(), syscall.Getpgrp()
	for range 100 {
		pids := proctree.Descendants(self, group)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // let the kernel finish them before looking again
	}
}

// dieWithGroup kills what is left of the plugin's process group, itself
// included, if the plugin leads its group (the host starts it so); else
// only itself.
func dieWithGroup() {
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(0, syscall.SIGKILL)
	}
	os.Exit(3)
}
