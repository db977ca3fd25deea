//go:build !linux || !cgo

package nativeloader

type hostFuncs struct{}

func (*hostFuncs) lookup(string) (uintptr, error) { return 0, ErrNotSupported }
