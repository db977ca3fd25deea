package main

// groupRunning reports whether a process of the group pgid runs: one that
// is not a zombie (see groupPIDs).
func groupRunning(pgid int) bool { return len(groupPIDs(pgid)) > 0 }
