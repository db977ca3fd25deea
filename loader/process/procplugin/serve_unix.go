//go:build unix && !linux

package procplugin

import (
	"os"
	"syscall"
)

// becomeSubreaper has no equivalent here: descendants that leave the
// plugin's process group are not found.
func becomeSubreaper() {}

// killDescendants cannot list descendants here without /proc; the host
// kills the plugin's process group once the plugin has exited, and
// dieWithGroup kills it when the host is gone.
func killDescendants() {}

// dieWithGroup kills the plugin's process group, itself included, if the
// plugin leads its group (the host starts it so); else only itself.
func dieWithGroup() {
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(0, syscall.SIGKILL)
	}
	os.Exit(3)
}
