//go:build linux && (amd64 || arm64)

package native

import (
	"encoding/binary"
	"errors"
	"runtime"
)

// writeForeignJump writes, at entry, a jump to to (or the word restore[0]),
// bypassing this package's bookkeeping as another patcher would, and
// returns the word it replaced.
func writeForeignJump(entry, to uintptr, restore ...uint64) (uint64, error) {
	process.mu.Lock()
	defer process.mu.Unlock()
	m, err := findMapping(entry)
	if err != nil {
		return 0, err
	}
	s := &site{entry: entry, prot: m.prot}
	s.word = entry
	if runtime.GOARCH == "amd64" {
		s.word = entry &^ 7
	}
	prev := loadWord(s.word)
	word := prev
	switch {
	case len(restore) > 0:
		word = restore[0]
	case runtime.GOARCH == "amd64":
		j, ok := amd64Jump(entry, to)
		if !ok {
			return 0, errors.New("out of range")
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], prev)
		copy(w[entry-s.word:], j[:])
		word = binary.LittleEndian.Uint64(w[:])
	default:
		insn, ok := arm64Branch(entry, to)
		if !ok {
			return 0, errors.New("out of range")
		}
		word = uint64(insn)
	}
	return prev, writeWord(s, word)
}
