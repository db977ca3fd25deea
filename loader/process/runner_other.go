//go:build !unix

package process

import "syscall"

// sysProcAttr has nothing to add on this platform; the plugin exits when it
// sees its parent change (see Serve).
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(int) {}
