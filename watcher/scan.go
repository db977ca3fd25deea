package watcher

import (
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ignored reports whether name is an editor temporary, a swap or backup
// file, a hidden file, or a Kubernetes volume internal ("..data",
// "..2026_11_27_10_00_00.123456789"). Such names are never reported,
// whatever Options.Match says.
func ignored(name string) bool {
	switch {
	case name == "" || name == "4913": // vim's probe for a writable directory
		return true
	case strings.HasPrefix(name, "."): // hidden, ".#lock", "..data", ".x.swp"
		return true
	case len(name) > 1 && name[0] == '#' && name[len(name)-1] == '#': // emacs auto-save
		return true
	}
	for _, s := range [...]string{
		"~",            // emacs, vim and others: backup
		".swp", ".swo", // vim swap files (when not hidden)
		".swn", ".swx", // vim: further swap files, write probe
		".tmp",         // write-then-rename helpers
		"___jb_tmp___", // JetBrains "safe write"
		"___jb_old___",
	} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// candidate reports whether name may be reported, if it turns out to be
// a regular file.
func (w *Watcher) candidate(name string) bool {
	return !ignored(name) && (w.match == nil || w.match(name))
}

// hashFile returns the SHA-256 of the regular file at path, following
// symlinks. present is false when path does not exist, is a dangling
// symlink or is not a regular file; err is set when it exists but cannot
// be read, in which case it counts as absent too.
func hashFile(path string) (s sum, present bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return s, false, notFoundIsAbsent(err)
	}
	if !fi.Mode().IsRegular() {
		return s, false, nil
	}
	// Opened without blocking: the entry may have been replaced by a FIFO
	// since Stat, and opening a FIFO with no writer would wait forever.
	f, err := openNonblock(path)
	if err != nil {
		return s, false, notFoundIsAbsent(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return s, false, err
	}
	if !fi.Mode().IsRegular() {
		return s, false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return s, false, err
	}
	h.Sum(s[:0])
	return s, true, nil
}

func notFoundIsAbsent(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
