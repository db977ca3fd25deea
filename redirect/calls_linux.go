//go:build linux && (amd64 || arm64)

package redirect

import (
	"runtime"
	"unsafe"
)

// directCalls scans the executable mapping of /proc/self/maps that holds
// entry (the text of the executable or of the plugin holding it) for direct
// calls and jumps to entry.
func directCalls(entry uintptr) (int, error) {
	m, err := findText(entry)
	if err != nil {
		return 0, err
	}
	text := unsafe.Slice((*byte)(ptr(m.start)), m.end-m.start)
	if runtime.GOARCH == "arm64" {
		return arm64DirectCalls(text, uint64(m.start), uint64(entry)), nil
	}
	return amd64DirectCalls(text, uint64(m.start), uint64(entry)), nil
}
