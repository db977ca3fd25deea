//go:build !(linux && (amd64 || arm64))

package redirect

func writeForeignJump(entry, to uintptr, restore ...uint64) (uint64, error) {
	return 0, ErrNotSupported
}

const jumpLen = 5

func checkRoom(name string, room int) error { return ErrNotSupported }

func readCodeForTest(entry uintptr) []byte { return nil }

func jumpDest(r *Redirection) (uintptr, bool) { return 0, false }

func prefixesOf(r *Redirection) int { return 0 }
