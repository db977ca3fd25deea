// Package patchfile reads patch files the way every path of hotpatch must:
// without blocking on what is not a regular file (a FIFO swapped in for a
// patch would otherwise hang an open for good), and refusing a file that is
// too large before reading a byte of it.
package patchfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

var (
	// ErrNotRegular is returned for a FIFO, device, socket or directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is returned for a file over the caller's limit.
	ErrTooLarge = errors.New("file too large")
)

// Open opens path for reading without blocking and returns it with its
// [fs.FileInfo] taken from the open file (not the name, which may have
// changed since). Anything but a regular file is refused with
// [ErrNotRegular].
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := openNonblock(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%v)", path, ErrNotRegular, fi.Mode().Type())
	}
	return f, fi, nil
}

// ReadFile returns the bytes of the regular file at path, refusing one over
// limit bytes (limit <= 0 means no limit) before reading it, and again if it
// grew past the limit while it was read.
func ReadFile(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if limit > 0 && fi.Size() > limit {
		return nil, fi, &SizeError{Path: path, Size: fi.Size(), Limit: limit}
	}
	var r io.Reader = f
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fi, err
	}
	if limit > 0 && int64(len(data)) > limit {
		return nil, fi, &SizeError{Path: path, Size: int64(len(data)), Limit: limit}
	}
	return data, fi, nil
}

// SizeError reports a file over a limit; it matches [ErrTooLarge].
type SizeError struct {
	Path  string
	Size  int64 // bytes seen: the file's size, or at least this many
	Limit int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s: %v: %d bytes or more, the limit is %d", e.Path, ErrTooLarge, e.Size, e.Limit)
}

func (e *SizeError) Unwrap() error { return ErrTooLarge }
