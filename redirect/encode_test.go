package redirect

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAMD64Jump(t *testing.T) {
	tests := []struct {
		from, to uint64
		want     string
		ok       bool
	}{
		{0x401000, 0x401000, "e9 fb ff ff ff", true},
		{0x401000, 0x401005, "e9 00 00 00 00", true},
		{0x401000, 0x76401005, "e9 00 00 00 76", true},
		{0x80000000, 0x10000, "e9 fb ff 00 80", true},
		{0x401000, 0x401005 + 1<<31, "", false},
		{0x100000000, 0x100000000 + 5 - 1<<31 - 1, "", false},
	}
	for _, tt := range tests {
		got, ok := amd64Jump(tt.from, tt.to)
		if ok != tt.ok || (ok && !bytes.Equal(got[:], hexBytes(t, tt.want))) {
			t.Errorf("amd64Jump(%#x, %#x) = % x, %v; want %s, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAMD64Trampoline(t *testing.T) {
	got, ok := amd64Trampoline(0x7000000, 0x7001000)
	if want := hexBytes(t, "48 8b 15 f9 0f 00 00 ff 22"); !ok || !bytes.Equal(got[:], want) {
		t.Errorf("amd64Trampoline = % x, %v; want % x", got, ok, want)
	}
	if _, ok := amd64Trampoline(0, 1<<40); ok {
		t.Error("amd64Trampoline accepted an out-of-range data word")
	}
}

func TestAMD64ForeignJump(t *testing.T) {
	for _, tt := range []struct {
		code    string
		codeLen int
		want    bool
	}{
		{"e9 00 00 00 00", 64, false},   // to offset 5, inside
		{"e9 00 01 00 00", 64, true},    // out of the function
		{"e9 f0 ff ff ff", 64, true},    // backwards, before the entry
		{"2e e9 00 10 00 00", 64, true}, // CS JMP rel32, as this package writes after a prefix
		{"eb 10", 64, false},            // JMP rel8 to a loop's condition
		{"eb 04 48 83 c0 f9", 13, false},
		{"eb 10", 13, true}, // past the function's last byte
		{"ff 25 00 00 00 00", 64, true},
		{"ff e0", 64, true},    // JMP AX
		{"41 ff e3", 64, true}, // JMP R11
		{"49 3b 66 10 76 2e", 64, false},
		{"ff d0", 64, false}, // CALL AX
		{"c3", 64, false},
	} {
		if got := amd64ForeignJump(hexBytes(t, tt.code), tt.codeLen); got != tt.want {
			t.Errorf("amd64ForeignJump(%s, %d) = %v, want %v", tt.code, tt.codeLen, got, tt.want)
		}
	}
}

func TestX86InsnLen(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{"49 3b 66 10 76 2e", 4},              // CMPQ SP, 16(R14)  (Go stack check)
		{"4c 8d 64 24 f8 4d 3b 66 10", 5},     // LEAQ -8(SP), R12
		{"4c 8d a4 24 00 f0 ff ff", 8},        // LEAQ -4096(SP), R12
		{"55 48 89 e5", 1},                    // PUSHQ BP
		{"48 89 e5", 3},                       // MOVQ SP, BP
		{"48 83 ec 18", 4},                    // SUBQ $24, SP
		{"48 81 ec 00 10 00 00", 7},           // SUBQ $4096, SP
		{"48 8d 04 18", 4},                    // LEAQ (AX)(BX*1), AX
		{"31 c0", 2},                          // XORL AX, AX
		{"c3", 1},                             // RET
		{"e9 00 00 00 00", 5},                 // JMP rel32
		{"eb fe", 2},                          // JMP rel8
		{"48 b8 01 02 03 04 05 06 07 08", 10}, // MOVQ $imm64, AX
		{"b8 01 00 00 00", 5},                 // MOVL $1, AX
		{"66 b8 01 00", 4},                    // MOVW $1, AX
		{"48 8b 05 00 00 00 00", 7},           // MOVQ x(RIP), AX
		{"c7 04 24 01 00 00 00", 7},           // MOVL $1, (SP)
		{"66 c7 04 24 01 00", 6},              // MOVW $1, (SP)
		{"f6 c1 01", 3},                       // TESTB $1, CL
		{"f7 d8", 2},                          // NEGL AX
		{"0f 1f 44 00 00", 5},                 // NOPL 0(AX)(AX*1)
		{"66 0f 1f 44 00 00", 6},              // NOPW
		{"0f 86 10 00 00 00", 6},              // JLS rel32
		{"0f a2", 2},                          // CPUID
		{"f3 0f 1e fa c3", 0},                 // ENDBR64: x86asm answers "REP", 1 byte
		{"66 0f 3a 0f c1 08", 6},              // PALIGNR $8, X1, X0
		{"c5 f8 77 c3", 0},                    // VZEROUPPER: x86asm says 4 bytes
		{"c4 e2 79 18 c0", 0},                 // VBROADCASTSS X0, X0: VEX, not trusted
		{"62 f1 7c 48 28 c1", 0},              // EVEX, not trusted
		{"49 3b 66", 0},                       // truncated: x86asm answers a lone REX
		{"66", 0},                             // a lone prefix
		{"0f 0b", 2},                          // UD2
		{"f0 48 0f b1 0a", 5},                 // LOCK CMPXCHGQ CX, (DX)
		{"", 0},
	}
	for _, tt := range tests {
		if got := x86InsnLen(hexBytes(t, tt.code)); got != tt.want {
			t.Errorf("x86InsnLen(%s) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

// TestX86InsnLenObjdump checks the decoder against GNU objdump on this test
// binary's own code: wherever the decoder answers, it must agree.
func TestX86InsnLenObjdump(t *testing.T) {
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("needs a linux/amd64 test binary")
	}
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	f.Close()
	if text == nil {
		t.Skip("no .text section")
	}
	start := text.Addr
	stop := start + min(text.Size, 256<<10)
	out, err := exec.Command(objdump, "-d", "-w", "--no-addresses=false",
		"--start-address=0x"+strconv.FormatUint(start, 16), "--stop-address=0x"+strconv.FormatUint(stop, 16), exe).Output()
	if err != nil {
		out, err = exec.Command(objdump, "-d", "-w",
			"--start-address=0x"+strconv.FormatUint(start, 16), "--stop-address=0x"+strconv.FormatUint(stop, 16), exe).Output()
		if err != nil {
			t.Skipf("objdump: %v", err)
		}
	}
	checked, unknown := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	var insns [][]byte
	for sc.Scan() {
		// "  401000:\t49 3b 66 10          \tcmp    0x10(%r14),%rsp"
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) < 3 || !strings.HasSuffix(strings.TrimSpace(parts[0]), ":") {
			continue
		}
		if strings.Contains(parts[2], "(bad)") {
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(parts[1]), " ", ""))
		if err != nil || len(b) == 0 {
			continue
		}
		insns = append(insns, b)
	}
	for i, b := range insns {
		code := append([]byte(nil), b...)
		if i+1 < len(insns) {
			code = append(code, insns[i+1]...)
		}
		got := x86InsnLen(code)
		if got == 0 {
			unknown++
			continue
		}
		checked++
		if got != len(b) {
			t.Errorf("x86InsnLen(% x) = %d, objdump says %d", b, got, len(b))
			if t.Failed() && checked > 20 {
				break
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d instructions checked (%d unknown)", checked, unknown)
	}
	t.Logf("%d instructions agree, %d not decoded (taken as 1 byte)", checked, unknown)
}

// TestAMD64PrefixedRelWindows: a CS prefix moves the kept bytes down the
// displacement. For IMULQ BX, AX; RET the plain jump's top byte must be
// the RET (C3: about 1 GiB back, below address 0 for code loaded low);
// after one prefix the RET is its third byte and the top byte is padding,
// free: windows near the entry, forward and back.
func TestAMD64PrefixedRelWindows(t *testing.T) {
	code := hexBytes(t, "48 0f af c3 c3 cc cc cc")
	if ws := amd64PrefixedRelWindows(code, 5, 0); len(ws) != 1 || ws[0][0] != -0x3d000000 {
		t.Errorf("plain: %#x, want one window at -0x3d000000", ws)
	}
	ws := amd64PrefixedRelWindows(code, 5, 1)
	if len(ws) != 64 || ws[0] != [2]int64{0xc30000, 0xc3ffff} {
		t.Fatalf("1 prefix: %d windows from %#x, want 64 from [0xc30000, 0xc3ffff]", len(ws), ws[:min(len(ws), 1)])
	}
	j, ok := amd64PrefixedJump(0x401000, 0x401000+6+0xc31234, 1)
	if want := hexBytes(t, "2e e9 34 12 c3 00"); !ok || !bytes.Equal(j, want) {
		t.Errorf("amd64PrefixedJump = % x, %v; want % x", j, ok, want)
	}
	if ws := amd64PrefixedRelWindows(code, 5, 3); len(ws) == 0 {
		t.Error("3 prefixes before a 4-byte first instruction: no window")
	}
	if ws := amd64PrefixedRelWindows(code, 5, 4); ws != nil {
		t.Errorf("4 prefixes before a 4-byte first instruction: %#x, want none (the opcode would overwrite the RET)", ws)
	}
	if ws := amd64PrefixedRelWindows(hexBytes(t, "c5 f8 77 c3 cc cc cc cc"), 64, 1); ws != nil {
		t.Errorf("prefix before an instruction that cannot be sized: %#x, want none", ws)
	}
}

func TestAMD64RelWindows(t *testing.T) {
	const entry uint64 = 0x7f1234560000
	tests := []struct {
		name    string
		code    string
		codeLen int
		windows int   // how many windows
		span    int64 // size of each
	}{
		{"stack check, JLS rel8", "49 3b 66 10 76 2e 55 48", 64, 1, 1 << 24},
		{"stack check, JLS rel32", "49 3b 66 10 0f 86 9a 00", 64, 1, 1 << 24},
		{"LEAQ prologue", "4c 8d 64 24 f8 4d 3b 66", 64, 1, 1 << 32},
		{"MOVQ SP, BP", "48 89 e5 48 83 ec 10 90", 64, 1, 1 << 16},
		{"XORL; RET", "31 c0 c3 cc cc cc cc cc", 3, 64, 1 << 8},
		{"PUSHQ BP", "55 48 89 e5 48 83 ec 10", 64, 1, 1},
		{"ADDQ; RET", "48 01 d8 c3 cc cc cc cc", 4, 64, 1 << 16},
		{"LEAQ; RET", "48 8d 04 18 c3 cc cc cc", 5, 1, 1 << 24},
		{"RET alone", "c3 cc cc cc cc cc cc cc", 1, 1, 1 << 32},
		{"VEX: unknown, as 1", "c5 f8 77 c3 cc cc cc cc", 64, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := hexBytes(t, tt.code)
			ws := amd64RelWindows(code, tt.codeLen)
			if len(ws) != tt.windows {
				t.Fatalf("%d windows, want %d: %v", len(ws), tt.windows, ws)
			}
			l := max(x86InsnLen(code), 1)
			keep := min(tt.codeLen, amd64JumpLen)
			for i, w := range ws {
				if w[1]-w[0]+1 != tt.span {
					t.Errorf("window %d [%#x, %#x] spans %#x, want %#x", i, w[0], w[1], w[1]-w[0]+1, tt.span)
				}
				for _, rel := range []int64{w[0], w[1], w[0] + (w[1]-w[0])/2} {
					jmp, ok := amd64Jump(entry, uint64(int64(entry)+amd64JumpLen+rel))
					if !ok {
						t.Fatalf("rel %#x out of jump range", rel)
					}
					if l < keep && !bytes.Equal(jmp[l:keep], code[l:keep]) {
						t.Errorf("rel %#x: jump % x changes instruction bytes % x", rel, jmp, code[l:keep])
					}
				}
			}
			if len(ws) > 1 && (ws[0][0] > ws[1][0] && ws[0][0] < 0) {
				t.Errorf("windows not nearest first: %v", ws[:2])
			}
		})
	}
}

func TestARM64Branch(t *testing.T) {
	tests := []struct {
		from, to uint64
		want     uint32
		ok       bool
	}{
		{0x10000, 0x10008, 0x14000002, true},
		{0x10008, 0x10004, 0x17ffffff, true},
		{0x8000000, 0x8000000 + arm64BRange - 4, 0x15ffffff, true},
		{0x8000000, 0x8000000 - arm64BRange, 0x16000000, true},
		{0x8000000, 0x8000000 + arm64BRange, 0, false},
		{0x10000, 0x10002, 0, false},
	}
	for _, tt := range tests {
		got, ok := arm64Branch(tt.from, tt.to)
		if ok != tt.ok || got != tt.want {
			t.Errorf("arm64Branch(%#x, %#x) = %#08x, %v; want %#08x, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
		}
		if ok {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], got)
			inst, err := arm64asm.Decode(b[:])
			if err != nil || inst.Op != arm64asm.B || inst.Args[0] != arm64asm.PCRel(int64(tt.to-tt.from)) {
				t.Errorf("arm64Branch(%#x, %#x) disassembles as %v, %v", tt.from, tt.to, inst, err)
			}
		}
	}
}

func TestARM64Trampoline(t *testing.T) {
	got, ok := arm64Trampoline(0x7000000, 0x7001000)
	if !ok {
		t.Fatal("not encoded")
	}
	want := []uint32{0x5800801a, 0xf940035b, 0xd61f0360} // LDR R26, +4096; MOVD (R26), R27; B (R27)
	for i, w := range want {
		if insn := binary.LittleEndian.Uint32(got[4*i:]); insn != w {
			t.Errorf("instruction %d = %#08x, want %#08x", i, insn, w)
		}
	}
	// The same, read back by golang.org/x/arch's disassembler (Go syntax
	// counts a PC-relative offset in instructions: 1024 is 4096 bytes).
	for i, want := range []string{"MOVD 1024(PC), R26", "MOVD (R26), R27", "JMP (R27)"} {
		inst, err := arm64asm.Decode(got[4*i:])
		if err != nil {
			t.Fatalf("instruction %d: %v", i, err)
		}
		if text := arm64asm.GoSyntax(inst, 0x7000000+uint64(4*i), nil, nil); text != want {
			t.Errorf("instruction %d disassembles as %q, want %q", i, text, want)
		}
	}
	if _, ok := arm64Trampoline(0x7000000, 0x7000000+1<<20); ok {
		t.Error("accepted a literal out of LDR range")
	}
	if inst, err := arm64asm.Decode(got[:4]); err != nil || inst.Args[1] != arm64asm.PCRel(4096) {
		t.Errorf("literal load: %v, %v; want data 4096 bytes after it", inst, err)
	}
	if !arm64IsJump(0x14000002) || !arm64IsJump(0xd61f0360) || arm64IsJump(0xf9400b90) {
		t.Error("arm64IsJump misclassifies")
	}
	for _, tt := range []struct {
		insn    uint32
		codeLen int
		want    bool
	}{
		{0x14000002, 64, false}, // B +8: the compiler's jump to a loop's condition
		{0x14000002, 8, true},   // past the function's last byte
		{0x17ffffff, 64, true},  // B -4: before the entry
		{0xd61f0360, 64, true},  // BR R27
		{0xf9400b90, 64, false}, // not a branch
	} {
		if got := arm64ForeignJump(tt.insn, tt.codeLen); got != tt.want {
			t.Errorf("arm64ForeignJump(%#08x, %d) = %v, want %v", tt.insn, tt.codeLen, got, tt.want)
		}
	}
}

// FuzzAMD64Placement checks, on any bytes, what a wrong answer would turn
// into a corrupted instruction in running code:
//   - an instruction length is the same whatever follows the instruction
//     (x86asm v0.33.0 sizes VZEROUPPER by the byte after it), and at most
//     the bytes given;
//   - every rel32 a window allows writes a jump, plain or after CS
//     prefixes, that keeps the bytes of the instructions after the first,
//     within the function's code, and decodes as one JMP.
func FuzzAMD64Placement(f *testing.F) {
	for _, seed := range []string{
		"49 3b 66 10 76 2e 55 48 89 e5",
		"4c 8d 64 24 f8 4d 3b 66 10",
		"49 89 e4 49 81 ec 88 1f 00 00",
		"48 0f af c3 c3 cc cc cc",
		"31 c0 c3 cc cc cc cc cc",
		"c5 f8 77 c3 cc cc cc cc",
		"f3 0f 1e fa c3",
		"66 0f 3a 0f c1 08",
	} {
		b, _ := hex.DecodeString(strings.ReplaceAll(seed, " ", ""))
		f.Add(b, byte(64), byte(64), byte(0), []byte{0xcc, 0x90})
	}
	f.Fuzz(func(t *testing.T, code []byte, codeLen, _, _ byte, tail []byte) {
		if len(code) > 16 {
			code = code[:16]
		}
		n := x86InsnLen(code)
		if n < 0 || n > len(code) || n > 15 {
			t.Fatalf("x86InsnLen(% x) = %d", code, n)
		}
		if n > 0 {
			own := append([]byte(nil), code[:n]...)
			if m := x86InsnLen(own); m != n {
				t.Fatalf("x86InsnLen(% x) = %d, but %d with % x after it", own, m, n, code[n:])
			}
			if m := x86InsnLen(append(own, tail...)); m != n {
				t.Fatalf("x86InsnLen(% x) = %d, but %d with % x after it", own, n, m, tail)
			}
		}
		if len(code) < amd64JumpLen {
			return
		}
		cl := int(codeLen)%maxRoom + 1
		const entry uint64 = 0x7f0000400000
		l := max(n, 1)
		for k := range amd64MaxPrefixes + 1 {
			ws := amd64PrefixedRelWindows(code, cl, k)
			if k > 0 && len(ws) > 0 && (n <= k || len(code) < k+amd64JumpLen) {
				t.Fatalf("code % x: %d windows for %d prefixes before a first instruction of %d bytes", code, len(ws), k, n)
			}
			keep := min(cl, k+amd64JumpLen)
			for _, w := range ws {
				if w[0] > w[1] || w[0] < -1<<31 || w[1] > 1<<31-1 {
					t.Fatalf("window [%#x, %#x] out of rel32", w[0], w[1])
				}
				for _, rel := range []int64{w[0], w[1], w[0] + (w[1]-w[0])/2} {
					j, ok := amd64PrefixedJump(entry, uint64(int64(entry)+int64(k)+amd64JumpLen+rel), k)
					if !ok {
						t.Fatalf("rel %#x not encodable", rel)
					}
					if l < keep && !bytes.Equal(j[l:keep], code[l:keep]) {
						t.Fatalf("code % x (%d bytes of it code): jump % x after %d prefixes changes % x", code, cl, j, k, code[l:keep])
					}
					if inst, ok := x86Decode(j); !ok || inst.Op != x86asm.JMP || inst.Len != len(j) {
						t.Fatalf("jump % x decodes as %v (%d bytes)", j, inst, inst.Len)
					}
				}
			}
		}
	})
}
