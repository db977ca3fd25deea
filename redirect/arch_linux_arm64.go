package redirect

import (
	"errors"
	"fmt"
	"sync/atomic"
)

const (
	jumpLen         = 4 // B imm26
	trampolineLen   = arm64TrampolineLen
	trampolineAlign = 16      // the trampoline stays within one cache line
	padByte         = 0x00    // the linker pads arm64 text with zero words
	spinBudget      = 1 << 15 // YIELD iterations a participant waits before leaving the rendezvous
)

// initSite records the entry's first instruction, which the branch replaces
// whole: arm64 instructions are 4 bytes, 4-byte aligned, so one aligned
// 32-bit store replaces exactly one instruction.
func initSite(s *site) error {
	if s.entry&3 != 0 {
		return fmt.Errorf("%w: entry %#x is not 4-byte aligned", ErrUnaligned, s.entry)
	}
	s.word = s.entry
	s.orig = loadWord(s.word)
	if arm64ForeignJump(uint32(s.orig), s.codeLen) {
		return fmt.Errorf("%w: entry %#x already starts with a branch out of the function (%#08x)", ErrEntryModified, s.entry, s.orig)
	}
	return nil
}

// placeTrampoline maps the trampoline within B's range, ±128 MiB. The
// branch replaces the whole first instruction, so any address will do.
func placeTrampoline(s *site) error {
	lo := uintptr(0)
	if s.entry > arm64BRange {
		lo = s.entry - arm64BRange
	}
	budget := 64
	if !mapTrampoline(s, lo, s.entry+arm64BRange-4, &budget) {
		return fmt.Errorf("%w: no free page within ±128 MiB", ErrNoTrampoline)
	}
	return nil
}

func trampolineCode(at, data uintptr) ([]byte, bool) {
	b, ok := arm64Trampoline(uint64(at), uint64(data))
	return b[:], ok
}

func patchedWord(s *site) (uint64, error) {
	insn, ok := arm64Branch(uint64(s.entry), uint64(s.tramp))
	if !ok {
		return 0, errors.New("redirect: trampoline out of branch range")
	}
	return uint64(insn), nil
}

// commitWord stores word at addr with every P parked (parkedStore): ARM
// allows an instruction to be changed while another core may execute it
// only between a few kinds (B, NOP, ...), and a Go entry's first
// instruction is not one of them, so no core may run Go code during the
// store. Threads without a P are in the kernel or in C and return to Go
// through an exception return, which is context-synchronizing.
func commitWord(addr uintptr, word uint64) error {
	return parkedCommit(addr, word)
}

func loadWord(addr uintptr) uint64 { return uint64(atomic.LoadUint32((*uint32)(ptr(addr)))) }

func storeData(addr, v uintptr) { atomic.StoreUintptr((*uintptr)(ptr(addr)), v) }

// flushICache makes the instructions in addr's cache line visible to
// instruction fetch: DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB.
//

func flushICache(addr uintptr)
