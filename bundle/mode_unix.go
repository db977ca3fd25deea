//go:build unix

package bundle

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func checkMode(path string, forbidden fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if fi.Mode().Perm()&forbidden != 0 {
		return &ModeError{Path: path, Mode: fi.Mode(), Dir: fi.IsDir(), Bits: forbidden}
	}
	if fi.IsDir() {
		return nil
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if di.Mode().Perm()&0o022 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return &ModeError{Path: dir, Mode: di.Mode(), Dir: true, Bits: 0o022}
	}
	return nil
}
