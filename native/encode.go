package native

import "encoding/binary"

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

// amd64IsJump reports whether code starts with an unconditional jump: what
// this package, gomonkey-style patchers and the like write at an entry. No
// Go-compiled function body starts with one.
func amd64IsJump(code []byte) bool {
	switch {
	case len(code) >= 1 && (code[0] == 0xE9 || code[0] == 0xEB):
		return true
	case len(code) >= 2 && code[0] == 0xFF && (code[1]&0x38) == 0x20: // JMP r/m64
		return true
	case len(code) >= 3 && code[0] >= 0x40 && code[0] <= 0x4F && code[1] == 0xFF && (code[2]&0x38) == 0x20:
		return true
	}
	return false
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
	l := x86InsnLen(code)
	if l == 0 {
		l = 1
	}
	fixedEnd := min(codeLen, amd64JumpLen) // entry bytes [l, fixedEnd) are kept
	if l >= fixedEnd || len(code) < amd64JumpLen {
		return [][2]int64{{-1 << 31, 1<<31 - 1}}
	}
	lowFree := uint(8 * (l - 1)) // rel32 bits below the kept bytes
	var fixed int64
	for p := l; p < fixedEnd; p++ {
		fixed |= int64(code[p]) << (8 * (p - 1))
	}
	highFree := amd64JumpLen - fixedEnd // free bytes of padding above them
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

// amd64ShortJump encodes JMP rel8 at from to to.
func amd64ShortJump(from, to uint64) ([2]byte, bool) {
	rel := int64(to) - int64(from+2)
	if rel != int64(int8(rel)) {
		return [2]byte{}, false
	}
	return [2]byte{0xEB, byte(int8(rel))}, true
}

// amd64PaddingSlot returns the offset from the entry of a place in the
// padding after the function's code for a 5-byte JMP rel32, reached from
// the entry by a 2-byte JMP rel8 that changes only bytes of the first
// instruction: the form used when no rel32 window is free.
func amd64PaddingSlot(code []byte, codeLen, room int) (int, bool) {
	if x86InsnLen(code) < 2 || room-codeLen < amd64JumpLen || codeLen-2 > 127 {
		return 0, false
	}
	return codeLen, true
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

// x86InsnLen returns the length of the x86-64 instruction at the start of
// code, or 0 when it cannot tell (VEX/EVEX encodings, invalid opcodes, code
// too short). It covers the legacy one- and two-byte opcode maps and the
// 0F38/0F3A maps, which is what the Go compiler emits at function entries.
func x86InsnLen(code []byte) int {
	i := 0
	opsize16, rexW := false, false
	// Legacy prefixes.
	for i < len(code) && i < 14 {
		switch code[i] {
		case 0x66:
			opsize16 = true
		case 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65:
		default:
			goto rex
		}
		i++
	}
rex:
	if i < len(code) && code[i]&0xF0 == 0x40 {
		rexW = code[i]&8 != 0
		i++
	}
	if i >= len(code) {
		return 0
	}
	op := code[i]
	i++
	immZ := 4 // imm16/32
	if opsize16 && !rexW {
		immZ = 2
	}
	modrm, imm := false, 0
	if op == 0x0F {
		if i >= len(code) {
			return 0
		}
		op2 := code[i]
		i++
		switch {
		case op2 == 0x38:
			if i >= len(code) {
				return 0
			}
			i++
			modrm = true
		case op2 == 0x3A:
			if i >= len(code) {
				return 0
			}
			i++
			modrm, imm = true, 1
		case op2 >= 0x80 && op2 <= 0x8F: // Jcc rel32
			imm = 4
		case op2 == 0x05 || op2 == 0x06 || op2 == 0x07 || op2 == 0x08 || op2 == 0x09 ||
			op2 == 0x0B || op2 == 0x0E || (op2 >= 0x30 && op2 <= 0x37) || op2 == 0x77 ||
			op2 == 0xA0 || op2 == 0xA1 || op2 == 0xA2 || op2 == 0xA8 || op2 == 0xA9 ||
			op2 == 0xAA || (op2 >= 0xC8 && op2 <= 0xCF):
		case (op2 >= 0x70 && op2 <= 0x73) || op2 == 0xA4 || op2 == 0xAC || op2 == 0xBA ||
			op2 == 0xC2 || op2 == 0xC4 || op2 == 0xC5 || op2 == 0xC6:
			modrm, imm = true, 1
		case op2 == 0x0F: // 3DNow!
			return 0
		default:
			modrm = true
		}
	} else {
		switch {
		case op < 0x40 && op&7 < 4: // ALU r/m forms
			modrm = true
		case op < 0x40 && op&7 == 4:
			imm = 1
		case op < 0x40 && op&7 == 5:
			imm = immZ
		case op < 0x40: // segment push/pop, BCD: invalid in 64-bit mode
			return 0
		case op >= 0x50 && op <= 0x5F, op >= 0x90 && op <= 0x99, op >= 0x9B && op <= 0x9F,
			op >= 0xA4 && op <= 0xA7, op >= 0xAA && op <= 0xAF, op >= 0x6C && op <= 0x6F,
			op == 0xC3, op == 0xC9, op == 0xCB, op == 0xCC, op == 0xCF, op == 0xD7,
			op >= 0xEC && op <= 0xEF, op == 0xF1, op == 0xF4, op == 0xF5, op >= 0xF8 && op <= 0xFD:
		case op == 0x63, op >= 0x84 && op <= 0x8F, op >= 0xD0 && op <= 0xD3, op >= 0xD8 && op <= 0xDF,
			op == 0xFE, op == 0xFF:
			modrm = true
		case op == 0x68:
			imm = immZ
		case op == 0x69, op == 0x81, op == 0xC7:
			modrm, imm = true, immZ
		case op == 0x6A, op >= 0x70 && op <= 0x7F, op == 0xA8, op >= 0xB0 && op <= 0xB7,
			op == 0xCD, op >= 0xE0 && op <= 0xE7, op == 0xEB:
			imm = 1
		case op == 0x6B, op == 0x80, op == 0x83, op == 0xC0, op == 0xC1, op == 0xC6:
			modrm, imm = true, 1
		case op >= 0xA0 && op <= 0xA3: // MOV moffs
			imm = 8
		case op == 0xA9:
			imm = immZ
		case op >= 0xB8 && op <= 0xBF:
			imm = immZ
			if rexW {
				imm = 8
			}
		case op == 0xC2, op == 0xCA:
			imm = 2
		case op == 0xC8:
			imm = 3
		case op == 0xE8, op == 0xE9:
			imm = 4
		case op == 0xF6:
			modrm = true
			if i < len(code) && (code[i]>>3)&7 < 2 {
				imm = 1
			}
		case op == 0xF7:
			modrm = true
			if i < len(code) && (code[i]>>3)&7 < 2 {
				imm = immZ
			}
		default: // 0x62 EVEX, 0xC4/0xC5 VEX, invalid opcodes
			return 0
		}
	}
	if modrm {
		if i >= len(code) {
			return 0
		}
		m := code[i]
		i++
		mod, rm := m>>6, m&7
		if mod != 3 && rm == 4 {
			if i >= len(code) {
				return 0
			}
			sib := code[i]
			i++
			if mod == 0 && sib&7 == 5 {
				i += 4
			}
		}
		switch {
		case mod == 0 && rm == 5:
			i += 4 // RIP-relative
		case mod == 1:
			i++
		case mod == 2:
			i += 4
		}
	}
	i += imm
	if i > len(code) || i > 15 {
		return 0
	}
	return i
}
