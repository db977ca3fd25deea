//go:build unix

package patchbuild

import (
	"os/exec"
	"syscall"
	"time"
)

// goCancelDelay bounds how long a cancelled go command may take to end
// after its interrupt, before it is killed.
const goCancelDelay = 10 * time.Second

// endTreeOnCancel makes a cancelled go command end with its tools: it runs
// in a process group of its own, which a cancel interrupts as a whole, as
// Ctrl-C in a terminal does. The go command ignores the interrupt, sees
// its tools (compile, link) end, removes its work directory and exits;
// killing the go command alone would leave the tools running and the
// work directory behind.
func endTreeOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = goCancelDelay
}
