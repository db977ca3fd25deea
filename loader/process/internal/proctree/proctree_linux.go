package proctree

import (
	"bytes"
	"os"
	"strconv"
)

// Descendants lists the live (not zombie) processes below self, and those
// of its process group, from /proc.
func Descendants(self, group int) []int {
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
