package native

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	jumpLen         = amd64JumpLen
	trampolineLen   = amd64TrampolineLen
	trampolineAlign = 16
	padByte         = 0xCC    // INT3: the linker's padding between functions
	spinBudget      = 1 << 11 // PAUSE iterations a participant waits before leaving the rendezvous
)

// initSite records the aligned 8-byte word that holds the 5-byte jump.
// Go aligns amd64 function entries to 32 bytes, so it is the entry's own
// first word.
func initSite(s *site) error {
	s.word = s.entry &^ 7
	if s.entry-s.word+jumpLen > 8 {
		return fmt.Errorf("%w: entry %#x: a 5-byte jump would straddle two words", ErrUnaligned, s.entry)
	}
	s.orig = loadWord(s.word)
	s.code = readCode(s.entry)
	if amd64IsJump(s.code) {
		return fmt.Errorf("%w: entry %#x already starts with a jump (% x)", ErrEntryModified, s.entry, s.code[:jumpLen])
	}
	return nil
}

// readCode returns up to 16 bytes of code at addr, stopping at the end of
// addr's page: enough to decode one instruction.
func readCode(addr uintptr) []byte {
	ps := uintptr(unix.Getpagesize())
	n := min(16, ps-addr&(ps-1))
	return append([]byte(nil), unsafe.Slice((*byte)(ptr(addr)), n)...)
}

// placeTrampoline finds a trampoline address the entry can jump to while
// keeping every instruction boundary after the first instruction (see
// amd64RelWindows), or else one reached through a jump in the padding after
// the function's code (amd64PaddingSlot).
func placeTrampoline(s *site) error {
	budget := 256
	next := int64(s.entry) + jumpLen
	for _, w := range amd64RelWindows(s.code, s.codeLen) {
		lo, hi := next+w[0], next+w[1]
		if hi < 0 {
			continue
		}
		if mapTrampoline(s, uintptr(max(lo, 0)), uintptr(hi), &budget) {
			return nil
		}
		if budget <= 0 {
			break
		}
	}
	off, ok := amd64PaddingSlot(s.code, s.codeLen, s.room)
	if !ok {
		return fmt.Errorf("no free page within the jump windows of % x", s.code[:jumpLen])
	}
	pad := s.entry + uintptr(off)
	budget = 64
	lo := max(int64(pad)+jumpLen-1<<31, 0)
	if !mapTrampoline(s, uintptr(lo), pad+jumpLen+1<<31-1, &budget) {
		return errors.New("no free page within ±2 GiB")
	}
	j, ok := amd64Jump(uint64(pad), uint64(s.tramp))
	if !ok {
		return errors.New("trampoline out of jump range")
	}
	if err := writeBytes(pad, j[:], s.prot); err != nil {
		return err
	}
	s.pad = pad
	return nil
}

func trampolineCode(at, data uintptr) ([]byte, bool) {
	b, ok := amd64Trampoline(uint64(at), uint64(data))
	return b[:], ok
}

// patchedWord is the original word with the jump to the trampoline over
// its entry bytes (or the short jump to the padding); the bytes after the
// jump keep their original values.
func patchedWord(s *site) (uint64, error) {
	var j []byte
	if s.pad != 0 {
		b, ok := amd64ShortJump(uint64(s.entry), uint64(s.pad))
		if !ok {
			return 0, errors.New("padding out of short jump range")
		}
		j = b[:]
	} else {
		b, ok := amd64Jump(uint64(s.entry), uint64(s.tramp))
		if !ok {
			return 0, errors.New("trampoline out of jump range")
		}
		j = b[:]
	}
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], s.orig)
	copy(w[s.entry-s.word:], j)
	return binary.LittleEndian.Uint64(w[:]), nil
}

func loadWord(addr uintptr) uint64 { return atomic.LoadUint64((*uint64)(ptr(addr))) }

func storeData(addr, v uintptr) { atomic.StoreUintptr((*uintptr)(ptr(addr)), v) }

// flushICache: x86 keeps instruction caches coherent with stores; the
// serializing CPUID in the rendezvous does the rest.
func flushICache(uintptr) {}
