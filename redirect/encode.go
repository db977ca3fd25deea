package redirect

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// The encoders in this file are pure functions of addresses and bytes, built
// on every platform so that their output can be tested anywhere; addresses
// are uint64 so that 32-bit hosts can test them too.

// Registers that carry a closure's context: the funcval pointer a Go
// closure reads its captured variables through.
//
//	amd64: RDX    arm64: R26
//
// A trampoline loads the replacement's funcval into that register and jumps
// through its first word, exactly as a Go closure call does, so a
// replacement may be any func value, closures included.

const (
	amd64JumpLen       = 5  // E9 rel32
	amd64TrampolineLen = 9  // MOVQ data(RIP), DX; JMP (DX)
	arm64TrampolineLen = 12 // LDR R26, data; MOVD (R26), R27; B (R27)
	arm64BRange        = 1 << 27
	pageSize           = 4096

	// maxRoom bounds how far the code around an entry is measured: far
	// enough to see every byte a jump may touch and the padding next to
	// a short function.
	maxRoom = 64
)

// amd64Jump encodes JMP rel32 at from to to.
func amd64Jump(from, to uint64) ([amd64JumpLen]byte, bool) {
	var b [amd64JumpLen]byte
	rel := int64(to) - int64(from+amd64JumpLen)
	if rel != int64(int32(rel)) {
		return b, false
	}
	b[0] = 0xE9
	binary.LittleEndian.PutUint32(b[1:], uint32(int32(rel)))
	return b, true
}

// amd64CS is the CS segment-override prefix. In 64-bit mode the CS, DS, ES
// and SS overrides are ignored (Intel SDM vol. 1, 3.3.7.1; AMD APM vol. 3,
// 1.2.4), so it changes nothing about the JMP it precedes; assemblers pad
// jumps with it (GNU as's -malign-branch-prefix-size). Here it moves a
// jump's rel32 bytes later in the entry word, which changes the bytes of
// the function's later instructions they must equal (amd64PrefixedRelWindows).
const amd64CS = 0x2E

// amd64MaxPrefixes bounds the CS prefixes before a jump: the 5-byte jump
// and its prefixes must fit in the entry's aligned 8-byte word.
const amd64MaxPrefixes = 3

// amd64PrefixedJump encodes prefixes CS prefixes and JMP rel32 at from, to
// to.
func amd64PrefixedJump(from, to uint64, prefixes int) ([]byte, bool) {
	b := make([]byte, prefixes+amd64JumpLen)
	for i := range prefixes {
		b[i] = amd64CS
	}
	j, ok := amd64Jump(from+uint64(prefixes), to)
	copy(b[prefixes:], j[:])
	return b, ok
}

// amd64Trampoline encodes the code at at that loads the funcval pointer
// stored at data into RDX and jumps to the funcval's code:
//
//	48 8B 15 rel32   MOVQ data(RIP), DX
//	FF 22            JMP  (DX)
func amd64Trampoline(at, data uint64) ([amd64TrampolineLen]byte, bool) {
	var b [amd64TrampolineLen]byte
	rel := int64(data) - int64(at+7)
	if rel != int64(int32(rel)) {
		return b, false
	}
	b[0], b[1], b[2] = 0x48, 0x8B, 0x15
	binary.LittleEndian.PutUint32(b[3:], uint32(int32(rel)))
	b[7], b[8] = 0xFF, 0x22
	return b, true
}

// amd64ForeignJump reports whether code, the first bytes of a function
// with codeLen bytes of instructions, starts with a jump that someone
// wrote over its entry: this package, gomonkey-style patchers and the
// like write a jump that leaves the function (relative, or through a
// register or memory). The compiler starts functions with a jump too: a
// frameless leaf whose body is a loop (for x > 100 { x -= 7 }) begins
// with JMP rel8 to the loop's condition at its end, inside the function;
// that jump is the function's own first instruction, replaced like any
// other.
func amd64ForeignJump(code []byte, codeLen int) bool {
	inst, ok := x86Decode(code)
	if !ok || (inst.Op != x86asm.JMP && inst.Op != x86asm.LJMP) {
		return false
	}
	rel, ok := inst.Args[0].(x86asm.Rel)
	if !ok {
		return true
	}
	to := int64(inst.Len) + int64(rel)
	return to < 0 || to >= int64(codeLen)
}

// amd64RelWindows returns ranges [lo, hi] of rel32 values that a JMP rel32
// written at an entry may take without changing any byte of code past the
// entry's first instruction, nearest ranges first. code holds the original
// bytes at the entry (at least 5), codeLen how many of them are the
// function's instructions; bytes from codeLen on are the alignment padding
// after its last instruction, which nothing executes.
//
// Why: a thread may be stopped with its PC at the start of the second or a
// later instruction: descheduled by the kernel, interrupted by a signal, or
// parked by an asynchronous preemption in a frameless leaf function (only
// the stack-check prologue of other functions is excluded from
// preemption). If the jump leaves every byte of those instructions
// unchanged, such a thread resumes into the original instructions, intact;
// only a thread at the entry itself, or one that has not yet fetched it,
// sees the jump, and it sees the old or the new 8-byte word whole. With a
// first instruction of length L < 5, the jump's bytes L..4 are the high
// bytes of rel32, so they pin rel32 into windows of 2^(8(L-1)) values: 16
// MiB for the 4-byte CMPQ SP, 16(R14) of Go's stack-check prologue, 64 KiB
// for L=3, 256 bytes for L=2, a single value for L=1. Bytes that are
// padding are free again. An undecodable first instruction counts as one
// byte long, which only narrows the windows.
func amd64RelWindows(code []byte, codeLen int) [][2]int64 {
	return amd64PrefixedRelWindows(code, codeLen, 0)
}

// amd64PrefixedRelWindows is amd64RelWindows for a jump after prefixes CS
// prefixes (amd64PrefixedJump): its rel32 bytes are at entry offsets
// prefixes+1 to prefixes+4, and rel32 counts from prefixes+5. The prefixes
// and the JMP opcode must lie within the first instruction: with fewer
// bytes in it than prefixes+1 (or one that cannot be sized, when prefixes
// is not 0), there is no window.
func amd64PrefixedRelWindows(code []byte, codeLen, prefixes int) [][2]int64 {
	l := x86InsnLen(code)
	if prefixes > 0 && l <= prefixes {
		return nil
	}
	if l == 0 {
		l = 1
	}
	end := prefixes + amd64JumpLen
	fixedEnd := min(codeLen, end) // entry bytes [l, fixedEnd) are kept
	if len(code) < end {
		return nil
	}
	if l >= fixedEnd {
		return [][2]int64{{-1 << 31, 1<<31 - 1}}
	}
	lowFree := uint(8 * (l - 1 - prefixes)) // rel32 bits below the kept bytes
	var fixed int64
	for p := l; p < fixedEnd; p++ {
		fixed |= int64(code[p]) << (8 * (p - 1 - prefixes))
	}
	highFree := end - fixedEnd // free bytes of padding above them
	if highFree == 0 {
		base := int64(int32(uint32(fixed)))
		return [][2]int64{{base, base + 1<<lowFree - 1}}
	}
	shift := uint(8 * (4 - highFree))
	limit := int64(1) << (8*highFree - 1)
	var out [][2]int64
	for k := int64(0); len(out) < 64 && k < 2*limit; k++ {
		v := k / 2 // 0, -1, 1, -2, 2, ...: nearest first
		if k%2 == 1 {
			v = -(k + 1) / 2
		}
		if v >= limit || v < -limit {
			continue
		}
		rel := v<<shift | fixed
		out = append(out, [2]int64{rel, rel + 1<<lowFree - 1})
	}
	return out
}

// arm64Branch encodes B from to to.
func arm64Branch(from, to uint64) (uint32, bool) {
	rel := int64(to) - int64(from)
	if rel&3 != 0 || rel < -arm64BRange || rel >= arm64BRange {
		return 0, false
	}
	return 0x14000000 | uint32(rel>>2)&0x03FFFFFF, true
}

// arm64Trampoline encodes the code at at that loads the funcval pointer
// stored at data into R26 and branches to the funcval's code:
//
//	58xxxxxx   LDR   R26, data      (literal, ±1 MiB)
//	F940035B   MOVD  (R26), R27
//	D61F0360   B     (R27)
//
// R27 is the Go linker's scratch register, free at a function entry.
func arm64Trampoline(at, data uint64) ([arm64TrampolineLen]byte, bool) {
	var b [arm64TrampolineLen]byte
	rel := int64(data) - int64(at)
	if rel&3 != 0 || rel < -1<<20 || rel >= 1<<20 {
		return b, false
	}
	binary.LittleEndian.PutUint32(b[0:], 0x58000000|uint32(rel>>2)&0x7FFFF<<5|26)
	binary.LittleEndian.PutUint32(b[4:], 0xF9400000|26<<5|27)
	binary.LittleEndian.PutUint32(b[8:], 0xD61F0000|27<<5)
	return b, true
}

// arm64IsJump reports whether insn is an unconditional B or BR, as a patcher
// writes at an entry.
func arm64IsJump(insn uint32) bool {
	return insn&0xFC000000 == 0x14000000 || insn&0xFFFFFC1F == 0xD61F0000
}

// arm64ForeignJump reports whether insn, the first instruction of a
// function with codeLen bytes of instructions, is a branch that someone
// wrote over its entry: a BR, or a B that leaves the function. A B within
// the function is the compiler's own (see amd64ForeignJump).
func arm64ForeignJump(insn uint32, codeLen int) bool {
	if !arm64IsJump(insn) {
		return false
	}
	if insn&0xFC000000 != 0x14000000 {
		return true // BR
	}
	to := int64(int32(insn<<6)>>6) * 4 // imm26, in instructions, sign-extended
	return to < 0 || to >= int64(codeLen)
}

// x86InsnLen returns the length of the x86-64 instruction at the start of
// code, or 0 when it cannot be sized: a wrong length here would let a jump
// overwrite the second instruction of running code, so an unknown answer
// only ever narrows where the jump may go (see amd64RelWindows).
func x86InsnLen(code []byte) int {
	inst, ok := x86Decode(code)
	if !ok {
		return 0
	}
	return inst.Len
}

// x86Decode decodes the instruction at the start of code with
// golang.org/x/arch's decoder, keeping only the answers it gets right.
// Two gaps of x86asm v0.33.0 are closed here:
//   - what it cannot decode (a truncated instruction, an opcode it does not
//     know such as ENDBR64) comes back without an error, as a 1-byte
//     instruction with Op 0: the leading prefix byte alone;
//   - it sizes some VEX encodings wrongly (VZEROUPPER, c5 f8 77, takes the
//     byte after it for a ModRM byte), so VEX and EVEX encodings are not
//     trusted. Go never starts a function with one.
func x86Decode(code []byte) (x86asm.Inst, bool) {
	i := 0
	for i < len(code) && i < 15 && isLegacyPrefix(code[i]) {
		i++
	}
	if i < len(code) && code[i]&0xF0 == 0x40 { // REX
		i++
	}
	if i < len(code) && (code[i] == 0xC4 || code[i] == 0xC5 || code[i] == 0x62) { // VEX3, VEX2, EVEX in 64-bit mode
		return x86asm.Inst{}, false
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > len(code) {
		return x86asm.Inst{}, false
	}
	return inst, true
}

func isLegacyPrefix(b byte) bool {
	switch b {
	case 0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65:
		return true
	}
	return false
}

// x86Insn describes the instruction at the start of code, in Go assembler
// syntax, for messages: "MOVQ SP, R12 (49 89 e4)".
func x86Insn(code []byte) string {
	inst, ok := x86Decode(code)
	if !ok {
		return fmt.Sprintf("undecodable (% x)", code[:min(len(code), 8)])
	}
	return fmt.Sprintf("%s (% x)", x86asm.GoSyntax(inst, 0, nil), code[:inst.Len])
}
