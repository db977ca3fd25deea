//go:build !unix

package patchfile

import "os"

// openNonblock is a plain open where FIFOs cannot block an open for reading
// (Windows) or do not exist.
func openNonblock(path string) (*os.File, error) {
	return os.Open(path)
}
