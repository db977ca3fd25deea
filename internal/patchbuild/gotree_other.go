//go:build !unix

package patchbuild

import "os/exec"

// endTreeOnCancel leaves the go command's default cancel (a kill) where
// there are no process groups.
func endTreeOnCancel(*exec.Cmd) {}
