//go:build !unix

package process

import "syscall"

// sysAttr says how a plugin should die with its host; unused here.
type sysAttr struct{ cleans bool }

// sysProcAttr has nothing to add on this platform; hotpatch's own plugins
// exit when they see their parent change (see Serve).
func sysProcAttr(sysAttr) *syscall.SysProcAttr { return nil }

func killGroup(int) {}

func killTree(int) {}

func waitExited(int) bool { return false }
