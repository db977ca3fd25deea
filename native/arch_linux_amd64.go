package native

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
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
	s.before = paddingBefore(s.entry)
	if amd64IsJump(s.code) {
		return fmt.Errorf("%w: entry %#x already starts with a jump (% x)", ErrEntryModified, s.entry, s.code[:jumpLen])
	}
	return nil
}

// paddingBefore counts the bytes of alignment padding right before entry,
// at the end of the previous function (at most maxRoom): bytes that hold
// padByte and no line of that function's code.
func paddingBefore(entry uintptr) int {
	prev := runtime.FuncForPC(entry - 1)
	if prev == nil {
		return 0
	}
	n := 0
	for n < maxRoom {
		pc := entry - uintptr(n) - 1
		if f := runtime.FuncForPC(pc); f == nil || f.Entry() != prev.Entry() || pc == prev.Entry() {
			break
		}
		if *(*byte)(ptr(pc)) != padByte {
			break
		}
		if _, line := prev.FileLine(pc); line != 0 {
			break
		}
		n++
	}
	return n
}

// placeTrampoline finds a trampoline address the entry can jump to while
// keeping every instruction boundary after the first instruction (see
// amd64RelWindows), or else one reached through a jump in alignment
// padding next to the function (amd64PaddingSlots). It runs under
// process.mu.
func placeTrampoline(s *site) error {
	budget := 256
	next := int64(s.entry) + jumpLen
	windows := amd64RelWindows(s.code, s.codeLen)
	mappable := false // some window lies in the user address space
	for _, w := range windows {
		lo, hi := next+w[0], next+w[1]
		if hi < minMapAddr || lo > maxMapAddr {
			continue
		}
		mappable = true
		if mapTrampoline(s, uintptr(max(lo, 0)), uintptr(hi), &budget) {
			return nil
		}
		if budget <= 0 {
			break
		}
	}
	slots := amd64PaddingSlots(s.code, s.codeLen, s.room, s.before)
	budget = 64
	var taken []uintptr // entries of the sites holding the slots
	for _, off := range slots {
		pad := uintptr(int64(s.entry) + int64(off))
		if other := padClaimedBy(pad); other != nil {
			taken = append(taken, other.entry)
			continue
		}
		lo := max(int64(pad)+jumpLen-1<<31, 0)
		if !mapTrampoline(s, uintptr(lo), pad+jumpLen+1<<31-1, &budget) {
			continue
		}
		j, ok := amd64Jump(uint64(pad), uint64(s.tramp))
		if ok {
			ok = writeBytes(pad, j[:], s.prot) == nil
		}
		if !ok {
			// Nothing jumps to the trampoline yet: give it back, so
			// that a later attempt does not take it for a placed one.
			munmap(s.tramp&^(pageSize-1), 2*pageSize)
			s.tramp, s.data = 0, 0
			continue
		}
		s.pad = pad
		// The padding jump may share the entry's word (a short function
		// whose code ends within 8 bytes of its entry): the word the
		// entry's jump is built on, and the one Restore writes back,
		// must carry it.
		s.orig = loadWord(s.word)
		return nil
	}
	if !mappable && len(taken) == len(slots) {
		return noRoomError(s, windows, next, taken)
	}
	return fmt.Errorf("%w: no free page within the jump windows of the entry (first instruction %s), nor within ±2 GiB of the padding next to it",
		ErrNoTrampoline, x86Insn(s.code))
}

// Bounds of the user address space a trampoline can be mapped in:
// vm.mmap_min_addr, and the top of the 47-bit address space.
const (
	minMapAddr = 1 << 16
	maxMapAddr = 1<<47 - 3*pageSize
)

// padClaimedBy returns the site whose jump or padding jump overlaps the 5
// bytes at pad, or nil. Padding before an entry is the previous function's
// tail, which that function's own padding jump may want too.
func padClaimedBy(pad uintptr) *site {
	overlaps := func(at uintptr) bool { return at != 0 && at < pad+jumpLen && pad < at+jumpLen }
	for _, o := range process.sites {
		if overlaps(o.pad) || overlaps(o.entry) {
			return o
		}
	}
	return nil
}

// noRoomError says why no jump can be placed: every rel32 window lies
// outside the address space and no padding is within a short jump.
func noRoomError(s *site, windows [][2]int64, next int64, taken []uintptr) error {
	l := max(x86InsnLen(s.code), 1)
	w := windows[0]
	where := fmt.Sprintf("[%#x, %#x]", next+w[0], next+w[1])
	if len(windows) > 1 {
		where = fmt.Sprintf("one of %d windows from %#x", len(windows), next+w[0])
	}
	err := fmt.Errorf("%w: its first instruction, %s, is %d bytes long, so a 5-byte jump must keep the %d bytes after it, which puts the jump's target at %s, outside the address space%s",
		ErrNoRoomForJump, x86Insn(s.code), l, min(s.codeLen, jumpLen)-l, where, padNote(s, taken))
	if bytes.HasPrefix(s.code, []byte{0x49, 0x89, 0xE4}) { // MOVQ SP, R12
		err = fmt.Errorf("%w; Go starts a function whose frame exceeds 4 KiB this way: move its large arrays to the heap, or build as a position-independent executable (-buildmode=pie), whose code is loaded high enough for the window", err)
	}
	return err
}

// padNote describes the padding next to the function, for messages.
func padNote(s *site, taken []uintptr) string {
	after := fmt.Sprintf("%d bytes of code with %d bytes of padding after them", s.codeLen, s.room-s.codeLen)
	if s.codeLen >= maxRoom {
		after = fmt.Sprintf("over %d bytes of code", maxRoom-1)
	}
	note := fmt.Sprintf("; no padding to use within a 2-byte jump: %s, %d bytes of padding before the entry", after, s.before)
	if len(taken) > 0 {
		note = fmt.Sprintf("; the padding within a 2-byte jump is taken by the jumps of the functions at %#x", taken)
	}
	return note
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

// commitWord stores word at addr, an aligned word of code, with one atomic
// store, then has every thread of the process serialize its instruction
// stream (membarrier's SYNC_CORE), as Intel's and AMD's rules for
// cross-modifying code ask before other processors run the new bytes.
// Only the first instruction changes (see amd64RelWindows), so a thread
// anywhere in the function runs intact code whichever word it sees. Where
// the kernel lacks the command, it gathers every P instead
// (parkedStore): the threads holding one serialize right after the store;
// see docs/redirection.md for what that leaves out.
func commitWord(addr uintptr, word uint64) error {
	if syncCoreRegistration() == nil {
		atomic.StoreUint64((*uint64)(ptr(addr)), word) // XCHG: also a full barrier
		if syncCores() == nil {
			return nil
		}
		// Registered, yet the command failed: serialize every P's thread
		// the old way; storing the same word again changes nothing.
	}
	return parkedCommit(addr, word)
}

func loadWord(addr uintptr) uint64 { return atomic.LoadUint64((*uint64)(ptr(addr))) }

func storeData(addr, v uintptr) { atomic.StoreUintptr((*uintptr)(ptr(addr)), v) }

// flushICache: x86 keeps instruction caches coherent with stores, and a
// trampoline is written before any jump to it exists: the serialization
// after the entry's store (commitWord) covers it too.
func flushICache(uintptr) {}
