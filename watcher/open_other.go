//go:build !unix

package watcher

import "os"

// openNonblock is a plain open where FIFOs cannot block an open for
// reading (Windows) or do not exist.
func openNonblock(path string) (*os.File, error) {
	return os.Open(path)
}
