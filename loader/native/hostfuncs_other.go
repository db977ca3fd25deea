//go:build !linux || !cgo

package native

type hostFuncs struct{}

func (*hostFuncs) lookup(string) (uintptr, error) { return 0, ErrNotSupported }
