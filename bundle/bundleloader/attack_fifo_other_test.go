//go:build !unix

package bundleloader_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
