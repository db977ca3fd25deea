//go:build !linux || !cgo

package native

import "io/fs"

func supported() error { return ErrNotSupported }

func isMapped(string) bool { return true }

func ownedByUs(fs.FileInfo) bool { return true }
