package redirect

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAMD64DirectCalls(t *testing.T) {
	const base, entry = 0x401000, 0x401100
	text := make([]byte, 0x200)
	for i := range text {
		text[i] = 0xCC
	}
	rel32 := func(at int, op byte, to uint64) { // writes op rel32 at offset at
		text[at] = op
		binary.LittleEndian.PutUint32(text[at+1:], uint32(int32(int64(to)-int64(base+uint64(at)+5))))
	}
	rel32(0x10, 0xE8, entry)            // CALL entry, forward
	rel32(0x20, 0xE9, entry)            // JMP entry: a tail call
	rel32(0xF0, 0xE8, entry+0x100)      // CALL elsewhere
	rel32(0x30, 0xEB, entry)            // not a rel32 opcode (JMP rel8)
	text[0x40], text[0x41] = 0xFF, 0x15 // CALL [rip+x]: indirect, not counted
	if got := amd64DirectCalls(text, base, entry); got != 2 {
		t.Errorf("forward: %d direct calls, want 2", got)
	}
	rel32(0x180, 0xE8, entry) // CALL entry, backward
	if got := amd64DirectCalls(text, base, entry); got != 3 {
		t.Errorf("with a backward call: %d, want 3", got)
	}
	// A CALL whose rel32 runs past the end of the text is not read.
	if got := amd64DirectCalls(text[:0x180+4], base, entry); got != 2 {
		t.Errorf("truncated: %d, want 2", got)
	}
	if got := amd64DirectCalls(nil, base, entry); got != 0 {
		t.Errorf("empty text: %d", got)
	}
}

func TestARM64DirectCalls(t *testing.T) {
	const base, entry = 0x10000, 0x10400
	text := make([]byte, 0x800)
	put := func(at uint64, insn uint32) { binary.LittleEndian.PutUint32(text[at:], insn) }
	branch := func(at, to uint64, link bool) uint32 {
		insn, ok := arm64Branch(base+at, to)
		if !ok {
			t.Fatalf("arm64Branch(%#x, %#x)", base+at, to)
		}
		if link {
			insn |= 0x80000000 // BL
		}
		return insn
	}
	put(0x10, branch(0x10, entry, true))            // BL entry, forward
	put(0x20, branch(0x20, entry, false))           // B entry: a tail call
	put(0x600, branch(0x600, entry, true))          // BL entry, backward
	put(0x30, branch(0x30, entry+4, true))          // BL elsewhere
	put(0x40, 0x54000000|((entry-base-0x40)>>2)<<5) // B.EQ entry: conditional, not counted
	put(0x50, 0xD63F0000|27<<5)                     // BLR R27: indirect, not counted
	if got := arm64DirectCalls(text, base, entry); got != 3 {
		t.Errorf("%d direct calls, want 3", got)
	}
	// A base that is not 4-byte aligned starts at the first aligned word.
	if got := arm64DirectCalls(text[2:], base+2, entry); got != 3 {
		t.Errorf("unaligned base: %d, want 3", got)
	}
}

func TestDirectCalls(t *testing.T) { runChild(t, "TestChildDirectCalls") }

func TestChildDirectCalls(t *testing.T) {
	inChild(t)
	t.Run("called directly", func(t *testing.T) {
		if got := targetGreet(0); got != "old:0" { // a direct call, kept out of line by //go:noinline
			t.Fatalf("targetGreet = %q", got)
		}
		r, err := Redirect(targetGreet, replGreet)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		start := time.Now()
		n := r.DirectCalls()
		t.Logf("%v: %d direct calls, counted in %v", r, n, time.Since(start))
		if n < 1 {
			t.Errorf("DirectCalls = %d, want at least 1", n)
		}
		if again := r.DirectCalls(); again != n {
			t.Errorf("second DirectCalls = %d, want the cached %d", again, n)
		}
	})
	t.Run("called directly from two functions", func(t *testing.T) {
		r, err := Redirect(helperMul, func(a int) int { return a })
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		if n := r.DirectCalls(); n < 2 { // targetFramed and replFramed
			t.Errorf("DirectCalls = %d, want at least 2", n)
		}
	})
	t.Run("every call site inlined", func(t *testing.T) {
		r, err := Redirect(inlinable, func(x int) int { return x - 1 })
		if err != nil {
			t.Fatal(err)
		}
		defer r.Restore()
		n := r.DirectCalls()
		// callInlinable, inlinable's only direct caller, tells whether the
		// compiler inlined it: an inlined call keeps the original code.
		switch got := callInlinable(10); got {
		case 11:
			if n != 0 {
				t.Errorf("inlined everywhere, yet DirectCalls = %d, want 0", n)
			}
		case 9:
			t.Skipf("inlining disabled (-gcflags=-l?): callInlinable called the entry; DirectCalls = %d", n)
		default:
			t.Fatalf("callInlinable = %d", got)
		}
	})
}

func TestDirectCallsUnsupported(t *testing.T) {
	var r *Redirection
	if n := r.DirectCalls(); n != -1 {
		t.Errorf("nil Redirection: DirectCalls = %d, want -1", n)
	}
	if redirectSupported() {
		return
	}
	if _, err := directCalls(0); err == nil {
		t.Error("directCalls succeeded where redirection is unsupported")
	}
}

// BenchmarkDirectCalls scans the test binary's text, uncached.
func BenchmarkDirectCalls(b *testing.B) {
	if !redirectSupported() {
		b.Skip("unsupported platform")
	}
	f, _ := funcOf(targetGreet, "target")
	for b.Loop() {
		if _, err := directCalls(f.code); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAMD64DirectCallsWordScan checks the eight-bytes-at-a-time scan
// against a byte-by-byte one on random code with planted calls, at every
// length and alignment near the ends.
func TestAMD64DirectCallsWordScan(t *testing.T) {
	naive := func(text []byte, base, entry uint64) int {
		n := 0
		for i := 0; i+5 <= len(text); i++ {
			if text[i] == 0xE8 || text[i] == 0xE9 {
				if base+uint64(i)+5+uint64(int64(int32(binary.LittleEndian.Uint32(text[i+1:])))) == entry {
					n++
				}
			}
		}
		return n
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const base, entry = 0x400000, 0x400800
	for round := range 200 {
		text := make([]byte, 64+rng.IntN(4096))
		for i := range text {
			text[i] = byte(rng.IntN(256))
		}
		for range rng.IntN(8) {
			at := rng.IntN(len(text) - 4)
			text[at] = 0xE8 | byte(rng.IntN(2))
			binary.LittleEndian.PutUint32(text[at+1:], uint32(int32(int64(entry)-int64(base+uint64(at)+5))))
		}
		for _, cut := range []int{0, 1, 3, 5, 8, 13} {
			tx := text[:len(text)-cut]
			if got, want := amd64DirectCalls(tx, base, entry), naive(tx, base, entry); got != want {
				t.Fatalf("round %d, cut %d: %d direct calls, byte by byte %d", round, cut, got, want)
			}
		}
	}
}
