//go:build !linux

package journal_test

import (
	"errors"
	"testing"
)

// mountTmpfs cannot mount here.
func mountTmpfs(*testing.T, string) (string, error) {
	return "", errors.New("mounting a tmpfs needs Linux")
}
