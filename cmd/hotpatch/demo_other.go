//go:build !unix

package main

import "os/exec"

// demoSupported: elsewhere the demo has no process group to stop, and the
// example server has no baseline step.
const demoSupported = false

func ownGroup(*exec.Cmd)  {}
func termGroup(int) bool  { return false }
func killGroup(int) bool  { return false }
func groupAlive(int) bool { return false }
