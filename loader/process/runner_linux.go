package process

import (
	"syscall"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/proctree"
	"golang.org/x/sys/unix"
)

// sysAttr says how a plugin should die with its host.
type sysAttr struct {
	// cleans: the plugin is hotpatch's own (Serve): on the parent-death
	// signal it kills its descendants and its group, then itself, so the
	// signal is SIGTERM. Other plugins get SIGKILL.
	cleans bool
}

// sysProcAttr puts the plugin in its own process group (so that what it
// spawns can be killed with it) and has the kernel signal it when the host
// dies.
//
// The parent-death signal is tied to the host thread that started the
// child, not to the host process: Go may end that thread if a goroutine
// locked to it exits (golang.org/issue/27505). Plugins are started from
// the loader's spawner thread (spawn.go), and hotpatch's own plugins also
// watch their parent pid (see Serve).
func sysProcAttr(a sysAttr) *syscall.SysProcAttr {
	sig := syscall.SIGKILL
	if a.cleans {
		sig = syscall.SIGTERM
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// killTree kills the plugin's process group and the descendants that left
// it, found by their parent pids in /proc while the plugin is not reaped.
// The group is stopped first, so that none of it forks meanwhile.
func killTree(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	for _, p := range proctree.Descendants(pid, pid) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	killGroup(pid)
}

// waitExited waits until pid has exited, without reaping it, and reports
// whether it could.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}
