package redirect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	if amd64ForeignJump(s.code, s.codeLen) {
		return fmt.Errorf("%w: entry %#x already starts with a jump out of the function (% x)", ErrEntryModified, s.entry, s.code[:jumpLen])
	}
	return nil
}

// placeTrampoline finds a trampoline address the entry can jump to while
// keeping every instruction boundary after the first instruction (see
// amd64RelWindows): first for a plain JMP rel32, then for one after 1 to 3
// CS prefixes (amd64PrefixedJump), whose rel32 bytes fall on other bytes
// of the code and so lead to other windows. Short leaf functions
// (IMULQ BX, AX; RET) in code loaded below 2 GiB need them: the plain
// jump's last byte must stay RET, which puts its window below address 0.
// It runs under process.mu.
//
// It never jumps through the alignment padding next to the function (a
// short jump within the first instruction to a jump written in the
// padding), though that would reach any trampoline: a goroutine
// asynchronously preempted with its PC on that jump is then parked at a PC
// the runtime attributes to the Go function around it but that the
// function's stack-pointer table does not cover, and the next garbage
// collection that scans its stack throws "invalid runtime symbol table".
// The trampoline itself is outside every Go function, where the runtime
// never preempts.
func placeTrampoline(s *site) error {
	budget := 256
	mappable := false // some window lies in the user address space
	for k := 0; k <= amd64MaxPrefixes && int(s.entry-s.word)+k+jumpLen <= 8 && k+jumpLen <= s.room; k++ {
		next := int64(s.entry) + int64(k) + jumpLen
		for _, w := range amd64PrefixedRelWindows(s.code, s.codeLen, k) {
			lo, hi := next+w[0], next+w[1]
			if hi < minMapAddr || lo > maxMapAddr {
				continue
			}
			mappable = true
			if mapTrampoline(s, uintptr(max(lo, 0)), uintptr(hi), &budget) {
				s.prefixes = k
				return nil
			}
			if budget <= 0 {
				break
			}
		}
	}
	if !mappable {
		next := int64(s.entry) + jumpLen
		return noRoomError(s, amd64RelWindows(s.code, s.codeLen), next)
	}
	if ws := amd64RelWindows(s.code, s.codeLen); len(ws) == 1 && ws[0][0] == ws[0][1] && x86InsnLen(s.code) <= 1 {
		return fmt.Errorf("%w: its first instruction, %s, is 1 byte long, so the jump must keep the 4 bytes after it and can lead to %#x only, where no page could be mapped (another trampoline's, or other memory)",
			ErrNoTrampoline, x86Insn(s.code), int64(s.entry)+jumpLen+ws[0][0])
	}
	return fmt.Errorf("%w: no free page within the jump windows of the entry (first instruction %s)",
		ErrNoTrampoline, x86Insn(s.code))
}

// Bounds of the user address space a trampoline can be mapped in:
// vm.mmap_min_addr, and the top of the 47-bit address space.
const (
	minMapAddr = 1 << 16
	maxMapAddr = 1<<47 - 3*pageSize
)

// noRoomError says why no jump can be placed: every rel32 window lies
// outside the address space, and what to do.
func noRoomError(s *site, windows [][2]int64, next int64) error {
	l := max(x86InsnLen(s.code), 1)
	w := windows[0]
	where := fmt.Sprintf("[%#x, %#x]", next+w[0], next+w[1])
	if len(windows) > 1 {
		where = fmt.Sprintf("one of %d windows from %#x", len(windows), next+w[0])
	}
	err := fmt.Errorf("%w: its first instruction, %s, is %d bytes long, so a 5-byte jump must keep the %d bytes after it, which puts the jump's target at %s, outside the address space, as do the jumps with CS prefixes (a jump through the alignment padding is not used: a goroutine preempted there would crash the next garbage collection); build as a position-independent executable (-buildmode=pie), whose code is loaded high enough for the window",
		ErrNoRoomForJump, x86Insn(s.code), l, min(s.codeLen, jumpLen)-l, where)
	switch {
	case bytes.HasPrefix(s.code, []byte{0x49, 0x89, 0xE4}): // MOVQ SP, R12
		err = fmt.Errorf("%w, or move its large arrays to the heap: Go starts a function whose frame exceeds 4 KiB this way", err)
	case s.codeLen <= jumpLen:
		err = fmt.Errorf("%w, or give it more code than its %d bytes (a call, or a second statement)", err, s.codeLen)
	}
	return err
}

func trampolineCode(at, data uintptr) ([]byte, bool) {
	b, ok := amd64Trampoline(uint64(at), uint64(data))
	return b[:], ok
}

// patchedWord is the original word with the jump to the trampoline (after
// s.prefixes CS prefixes) over its entry bytes; the bytes after the jump keep their original values.
func patchedWord(s *site) (uint64, error) {
	j, ok := amd64PrefixedJump(uint64(s.entry), uint64(s.tramp), s.prefixes)
	if !ok {
		return 0, errors.New("trampoline out of jump range")
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
