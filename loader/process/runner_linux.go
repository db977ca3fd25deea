package process

import "syscall"

// sysProcAttr puts the plugin in its own process group (so that Kill also
// stops what it spawned) and has the kernel kill it when the host dies.
//
// The parent-death signal is tied to the host thread that started the
// child, not to the host process: Go may end that thread if a goroutine
// locked to it exits (golang.org/issue/27505). The plugin also watches its
// parent pid (see Serve), which covers that case within a quarter second.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
