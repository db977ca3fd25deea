//go:build linux && (amd64 || arm64)

package redirect

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mapping is the line of /proc/self/maps that holds an address.
type mapping struct {
	start, end, offset uintptr
	prot               int
	path               string
}

// findMapping reads /proc/self/maps for the mapping that holds addr: its
// protection is what a code write must restore.
func findMapping(addr uintptr) (mapping, error) {
	ms, err := readMappings()
	if err != nil {
		return mapping{}, err
	}
	for _, m := range ms {
		if addr >= m.start && addr < m.end {
			return m, nil
		}
	}
	return mapping{}, fmt.Errorf("address %#x is in no mapping", addr)
}

// findText returns the executable mapping that holds addr, extended over
// the adjacent executable mappings of the same file: a code write changes
// the protection of one page for a moment, which can leave the kernel's
// record of a text segment split in pieces.
func findText(addr uintptr) (mapping, error) {
	ms, err := readMappings()
	if err != nil {
		return mapping{}, err
	}
	for i, m := range ms {
		if addr < m.start || addr >= m.end {
			continue
		}
		if m.prot&unix.PROT_EXEC == 0 {
			return mapping{}, fmt.Errorf("address %#x is in a mapping that is not executable (%s)", addr, m.path)
		}
		same := func(n mapping) bool { return n.prot&unix.PROT_EXEC != 0 && n.path == m.path }
		for j := i - 1; j >= 0 && ms[j].end == m.start && same(ms[j]); j-- {
			m.start, m.offset = ms[j].start, ms[j].offset
		}
		for j := i + 1; j < len(ms) && ms[j].start == m.end && same(ms[j]); j++ {
			m.end = ms[j].end
		}
		return m, nil
	}
	return mapping{}, fmt.Errorf("address %#x is in no mapping", addr)
}

// readMappings parses /proc/self/maps, in address order.
func readMappings() ([]mapping, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-0052d000 r-xp 00000000 fd:01 1234   /path/to/exe
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		off, _ := strconv.ParseUint(fields[2], 16, 64)
		m := mapping{start: uintptr(start), end: uintptr(end), offset: uintptr(off)}
		perms := fields[1]
		if strings.Contains(perms, "r") {
			m.prot |= unix.PROT_READ
		}
		if strings.Contains(perms, "w") {
			m.prot |= unix.PROT_WRITE
		}
		if strings.Contains(perms, "x") {
			m.prot |= unix.PROT_EXEC
		}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ms, nil
}
