//go:build unix && !linux

package bundle

// readOnlyMount reports whether path is on a file system mounted
// read-only; off Linux it says no, and the mode bits decide.
func readOnlyMount(string) bool { return false }
