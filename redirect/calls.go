package redirect

import (
	"encoding/binary"
	"sync"
)

// DirectCalls reports how many direct call instructions in the code of the
// module that holds the target (the executable's text, or a plugin's text
// for a target that lives in a plugin) reach the target's entry: CALL rel32
// and the JMP rel32 of a tail call on amd64, BL and B on arm64. It is a
// diagnostic for inlining ("Detecting inlined call sites" in the package
// documentation): zero means that every call site of the target in its
// module was inlined, or that the target is only ever called through func
// values or interfaces (method tables), which Redirect does redirect. It
// does not look at other modules: a plugin's calls into the executable, or
// the reverse, are not counted. Redirect does not refuse a target with no
// direct calls.
//
// The count is computed on first use, by scanning the executable mapping
// that holds the entry (a few milliseconds for tens of megabytes of code),
// and cached per target. It is -1 when it cannot be computed: on platforms
// where [Redirect] is not supported, for a nil Redirection, or when
// /proc/self/maps cannot be read. amd64 code is scanned at every byte
// offset, so bytes inside other instructions could in principle match a
// call; the chance is about one in 10^5 for 30 MB of text.
func (r *Redirection) DirectCalls() int {
	if r == nil {
		return -1
	}
	n, err := cachedDirectCalls(r.target.code)
	if err != nil {
		return -1
	}
	return n
}

// directCallCache holds the counts DirectCalls computed, by entry. Machine
// code is never unloaded (plugins stay mapped), and the only code this
// package writes is entry jumps and trampolines, which add no calls to any
// entry, so a count stays valid.
var directCallCache struct {
	mu sync.Mutex // held during a scan: concurrent first calls scan once
	n  map[uintptr]int
}

func cachedDirectCalls(entry uintptr) (int, error) {
	directCallCache.mu.Lock()
	defer directCallCache.mu.Unlock()
	if n, ok := directCallCache.n[entry]; ok {
		return n, nil
	}
	n, err := directCalls(entry)
	if err != nil {
		return 0, err
	}
	if directCallCache.n == nil {
		directCallCache.n = make(map[uintptr]int)
	}
	directCallCache.n[entry] = n
	return n, nil
}

// amd64DirectCalls counts, in text loaded at base, the CALL rel32 (E8) and
// JMP rel32 (E9) whose destination is entry. It looks at every byte offset:
// x86 code cannot be split into instructions without decoding it from a
// known start.
func amd64DirectCalls(text []byte, base, entry uint64) int {
	want := entry - base - amd64JumpLen // destination = base + i + 5 + rel32
	n := 0
	i := 0
	// Eight bytes at a time, skipping words with no E8 or E9 byte: a byte
	// b has b|1 == E9 exactly when the byte of (w|0x01..) ^ 0xE9.. is zero.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8+amd64JumpLen <= len(text); i += 8 {
		v := (binary.LittleEndian.Uint64(text[i:i+8]) | ones) ^ (0xE9 * ones)
		if (v-ones)&^v&highs == 0 {
			continue
		}
		for j := i; j < i+8; j++ {
			if text[j]|1 == 0xE9 && uint64(j)+uint64(int64(int32(binary.LittleEndian.Uint32(text[j+1:j+5])))) == want {
				n++
			}
		}
	}
	for ; i+amd64JumpLen <= len(text); i++ {
		if text[i]|1 == 0xE9 && uint64(i)+uint64(int64(int32(binary.LittleEndian.Uint32(text[i+1:i+5])))) == want {
			n++
		}
	}
	return n
}

// arm64DirectCalls counts, in text loaded at base, the BL imm26 and B imm26
// at 4-byte aligned addresses whose destination is entry.
func arm64DirectCalls(text []byte, base, entry uint64) int {
	n := 0
	for i := int((4 - base&3) & 3); i+4 <= len(text); i += 4 {
		insn := binary.LittleEndian.Uint32(text[i : i+4])
		if insn&0x7C000000 != 0x14000000 { // B is 000101, BL is 100101, then imm26
			continue
		}
		rel := int64(int32(insn<<6)>>6) * 4
		if base+uint64(i)+uint64(rel) == entry {
			n++
		}
	}
	return n
}
