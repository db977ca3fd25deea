package process

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

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
		pids := descendants(self, group)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // let the kernel finish them before looking again
	}
}

// descendants lists the live (not zombie) processes below self, and those
// of its process group, from /proc.
func descendants(self, group int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := make(map[int][]int)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 || f[0][0] == 'Z' || f[0][0] == 'X' {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		pgrp, _ := strconv.Atoi(string(f[2]))
		if pgrp == group && group == self { // only a group the plugin leads: not a shell's job
			out = append(out, pid)
			continue
		}
		kids[ppid] = append(kids[ppid], pid)
	}
	queue := append([]int{self}, out...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
		delete(kids, p)
	}
	return out
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
