//go:build linux && (amd64 || arm64)

package native

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
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return mapping{}, err
	}
	defer f.Close()
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
		if err1 != nil || err2 != nil || uint64(addr) < start || uint64(addr) >= end {
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
		return m, nil
	}
	if err := sc.Err(); err != nil {
		return mapping{}, err
	}
	return mapping{}, fmt.Errorf("address %#x is in no mapping", addr)
}
