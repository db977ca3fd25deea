package nativeloader

import "github.com/hotpatch-go/hotpatch/native"

// nativeRedirect is the production redirectFunc.
func nativeRedirect(target, replacement any) (restorer, error) {
	return nil, native.ErrNotSupported // TODO(merge native): native.Redirect
}
