// Package atomicfile replaces a file whole or not at all: the new content
// goes to a temporary file next to it, which is synced, given its mode
// and renamed over the target, and the directory is synced, so that a
// reader (a watcher, a restarted process) sees the old file or the new
// one, never a part, and a crash at any point leaves one of the two.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Options say how [Write] writes. The zero value writes mode 0600 with a
// temporary file in the target's directory, and syncs.
type Options struct {
	// Perm is the file's mode; 0 means 0600.
	Perm os.FileMode
	// TempDir is where the temporary file is made; "" means the target's
	// directory. It must be on the same file system as the target.
	TempDir string
	// Pattern names the temporary file as os.CreateTemp does; "" means
	// "." + the target's name + ".*.tmp", a dot file that directory
	// watchers skip.
	Pattern string
	// NoSync skips the syncs, for output that can be made again (a
	// build's): the rename still makes it appear whole.
	NoSync bool
}

// Write replaces path with what write writes into the temporary file.
// When write or any step fails, the temporary file is removed and path
// is left as it was.
func Write(path string, opts Options, write func(f *os.File) error) (err error) {
	dir := filepath.Dir(path)
	tmpDir := opts.TempDir
	if tmpDir == "" {
		tmpDir = dir
	}
	pattern := opts.Pattern
	if pattern == "" {
		pattern = "." + filepath.Base(path) + ".*.tmp"
	}
	perm := opts.Perm
	if perm == 0 {
		perm = 0o600
	}
	f, err := os.CreateTemp(tmpDir, pattern)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if !opts.NoSync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	renamed = true
	if opts.NoSync {
		return nil
	}
	return SyncDir(dir)
}

// WriteBytes replaces path with data, as [Write].
func WriteBytes(path string, data []byte, opts Options) error {
	return Write(path, opts, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
