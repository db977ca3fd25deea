package watcher

import (
	"crypto/sha256"
	"errors"
	"hash"
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

// hasher reads entries. It reuses its hash and buffer, so it belongs to
// the watcher's goroutine.
type hasher struct {
	h    hash.Hash
	buf  []byte
	done <-chan struct{} // closed by Close: stop reading, even a huge file
}

func newHasher(done <-chan struct{}) *hasher {
	return &hasher{h: sha256.New(), buf: make([]byte, 32<<10), done: done}
}

// entry is what look found at a name.
type entry struct {
	sum      sum
	present  bool    // a regular file, directly or through symlinks, read and hashed
	tooLarge bool    // a regular file over the size limit, not read
	deferred bool    // a regular file over the inline limit, not read yet
	size     int64   // its size, when too large
	key      statKey // of the regular file, when present or too large
	link     bool    // the name itself is a symlink, dangling or not
}

// look resolves the entry at path, following symlinks, and hashes it if
// it is a regular file of at most maxSize bytes (maxSize <= 0: any size).
// An entry that does not exist, dangles or is not a regular file is
// absent; one that exists but cannot be read is absent too, and err says
// why. A larger file is not read: it is tooLarge. A file over inlineMax
// bytes (inlineMax <= 0: none) is not read either but deferred, for a
// hasher of its own.
func (hs *hasher) look(path string, maxSize, inlineMax int64) (e entry, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return e, notFoundIsAbsent(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		e.link = true
		if fi, err = os.Stat(path); err != nil {
			return e, notFoundIsAbsent(err)
		}
	}
	if !fi.Mode().IsRegular() {
		return e, nil
	}
	// Opened without blocking: the entry may have been replaced by a FIFO
	// since Stat, and opening a FIFO with no writer would wait forever.
	f, err := openNonblock(path)
	if err != nil {
		return e, notFoundIsAbsent(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return e, err
	}
	if !fi.Mode().IsRegular() {
		return e, nil
	}
	e.key = keyOf(fi)
	if maxSize > 0 && fi.Size() > maxSize {
		// Checked before reading a byte: hashing a huge file would hold
		// up every other file for as long as it takes.
		e.tooLarge, e.size = true, fi.Size()
		return e, nil
	}
	if inlineMax > 0 && fi.Size() > inlineMax {
		e.deferred = true
		return e, nil
	}
	hs.h.Reset()
	var total int64
	for {
		select {
		case <-hs.done:
			return e, errClosing
		default:
		}
		n, err := f.Read(hs.buf)
		hs.h.Write(hs.buf[:n])
		total += int64(n)
		if maxSize > 0 && total > maxSize {
			// It grew past the limit while being read.
			e.tooLarge, e.size = true, total
			return e, nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return e, err
		}
	}
	hs.h.Sum(e.sum[:0])
	e.present = true
	return e, nil
}

func notFoundIsAbsent(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
