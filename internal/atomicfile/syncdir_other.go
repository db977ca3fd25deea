//go:build !unix

package atomicfile

// SyncDir does nothing here: a directory cannot be opened for a sync.
func SyncDir(string) error { return nil }
