//go:build !unix

package journal

import "io/fs"

// checkPerm checks nothing here: the mode bits of this platform do not
// say who may write a directory (access control lists do); the write
// probe of checkDir still runs.
func checkPerm(string, fs.FileInfo) error { return nil }

// lockDir takes no lock here: two processes writing one state directory
// at the same moment may undo each other's record.
func lockDir(string) (func(), error) { return func() {}, nil }

// holdOwner holds nothing here.
func holdOwner(string, string) (func(), error) { return func() {}, nil }

// ownerAlive cannot tell here, and says no: the last process to write
// the journal wins.
func ownerAlive(string, string) bool { return false }
