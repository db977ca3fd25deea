//go:build linux && (amd64 || arm64)

package redirect

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// process is this package's record of the code it has rewritten. It is
// package-level because what it describes is: machine code is shared by the
// whole process, and two Redirect calls that know nothing of each other must
// still see each other's writes (to refuse a second redirection of the same
// target, and to serialize the writes to a page whose protection they
// change). It only grows: a site, once seen, keeps its original bytes (to
// recognize foreign writes later) and its trampoline (a thread may still be
// inside it; it is never unmapped).
var process struct {
	mu    sync.Mutex        // serializes every code write; guards sites and every site's fields
	sites map[uintptr]*site // by entry address
}

// site is one target entry this package has seen.
type site struct {
	entry uintptr // the function's entry
	word  uintptr // aligned address of the machine word rewritten
	orig  uint64  // that word as first seen (arm64: the low 4 bytes)
	prot  int     // protection of the page holding word, restored after a write

	code    []byte // original bytes at entry (amd64: enough to decode one instruction)
	codeLen int    // bytes of instructions from entry, up to room
	room    int    // bytes from entry to the next function's entry, at most maxRoom

	tramp uintptr // trampoline code, 0 until first needed
	data  uintptr // trampoline's data word: the replacement's funcval

	prefixes int // amd64: CS prefixes before the entry's JMP rel32 (amd64PrefixedJump)

	active *Redirection // current redirection, nil when restored
	keep   any          // last replacement: its funcval stays reachable
}

func redirect(t, r fn) (*Redirection, error) {
	process.mu.Lock()
	defer process.mu.Unlock()

	if err := checkCycle(t, r); err != nil {
		return nil, err
	}
	s := process.sites[t.code]
	if s == nil {
		var err error
		s, err = newSite(t)
		if err != nil {
			return nil, err
		}
		if process.sites == nil {
			process.sites = make(map[uintptr]*site)
		}
		process.sites[t.code] = s
	} else {
		if s.active != nil {
			return nil, fmt.Errorf("%w: %s, by %v", ErrAlreadyRedirected, t.name, s.active)
		}
		if cur := loadWord(s.word); cur != s.orig {
			return nil, fmt.Errorf("%w: %s at %#x holds %#x, first seen as %#x", ErrEntryModified, t.name, s.word, cur, s.orig)
		}
	}
	if s.tramp == 0 {
		if err := placeTrampoline(s); err != nil {
			return nil, fmt.Errorf("%s at %#x: %w", t.name, t.code, err)
		}
	}

	// The trampoline reads its data word on every call; a thread that read
	// the previous replacement is past the read and jumps to that one,
	// which is still valid code.
	storeData(s.data, uintptr(r.fv))
	s.keep = r.v

	word, err := patchedWord(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	if err := writeWord(s, word); err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	red := &Redirection{target: t, replacement: r, site: s}
	s.active = red
	return red, nil
}

func restore(r *Redirection) error {
	process.mu.Lock()
	defer process.mu.Unlock()

	s := r.site
	if s == nil || s.active != r {
		return nil // already restored
	}
	want, err := patchedWord(s)
	if err != nil {
		return err
	}
	if cur := loadWord(s.word); cur != want {
		return fmt.Errorf("%w: %s at %#x holds %#x, not the jump %#x written by %v", ErrEntryModified, r.target.name, s.word, cur, want, r)
	}
	if err := writeWord(s, s.orig); err != nil {
		return fmt.Errorf("%s: %w", r.target.name, err)
	}
	s.active = nil
	return nil
}

// checkCycle refuses a replacement that leads back to the target through
// redirections in place (A to B while B is redirected to A): every call
// would jump around the loop forever. It runs under process.mu.
func checkCycle(t, r fn) error {
	code := r.code
	for range len(process.sites) + 1 {
		s := process.sites[code]
		if s == nil || s.active == nil {
			return nil
		}
		if s.active.replacement.code == t.code {
			return fmt.Errorf("%w: replacement %s is redirected back to %s (by %v): calls would loop forever", ErrSameFunc, r.name, t.name, s.active)
		}
		code = s.active.replacement.code
	}
	return nil
}

// newSite checks a target seen for the first time and records its entry.
func newSite(t fn) (*site, error) {
	if f := runtime.FuncForPC(t.code); f == nil || f.Entry() != t.code {
		return nil, fmt.Errorf("%w: target %s at %#x is not the entry of a Go function", ErrNotFunc, t.name, t.code)
	}
	s := &site{entry: t.code}
	s.codeLen, s.room = codeExtent(t.code)
	if err := checkRoom(t.name, s.room); err != nil {
		return nil, err
	}
	m, err := findMapping(t.code)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	s.prot = m.prot
	if err := initSite(s); err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return s, nil
}

// checkRoom refuses a function with fewer bytes than the jump before the
// next function's entry: the jump would overwrite that function.
func checkRoom(name string, room int) error {
	if room < jumpLen {
		return fmt.Errorf("%w: %s has %d bytes before the next function, the jump takes %d", ErrTooShort, name, room, jumpLen)
	}
	return nil
}

// codeExtent measures, from the runtime's function table, the bytes from
// entry to the next function's entry (room, at most maxRoom) and how many
// of them are the function's instructions (codeLen): the rest is the
// linker's alignment padding, which has no line-table entry and is filled
// with padByte. Only the room check keeps a jump from overwriting the next
// function; codeLen tells which bytes some thread may execute.
func codeExtent(entry uintptr) (codeLen, room int) {
	f := runtime.FuncForPC(entry)
	for room = 1; room < maxRoom; room++ {
		if g := runtime.FuncForPC(entry + uintptr(room)); g == nil || g.Entry() != entry {
			break
		}
	}
	codeLen = room
	for codeLen > 0 {
		pc := entry + uintptr(codeLen) - 1
		if *(*byte)(ptr(pc)) != padByte {
			break
		}
		if _, line := f.FileLine(pc); line != 0 {
			break
		}
		codeLen--
	}
	return codeLen, room
}

// mapTrampoline maps, for s, a code page holding the trampoline at an
// address in [lo, hi] and a data page after it, trying up to 8 candidate
// pages spread over the range, nearest to the entry first, and at most
// *budget mmap calls.
func mapTrampoline(s *site, lo, hi uintptr, budget *int) bool {
	ps := uintptr(unix.Getpagesize())
	lo = max(lo, 1<<16) // vm.mmap_min_addr
	hi = min(hi, 1<<47-3*ps)
	if hi < lo {
		return false
	}
	first, last := lo&^(ps-1), hi&^(ps-1)
	n := (last-first)/ps + 1
	var pages []uintptr
	if n <= 8 {
		for i := range n {
			pages = append(pages, first+i*ps)
		}
	} else {
		for i := range uintptr(8) {
			pages = append(pages, first+(n-1)*i/7*ps)
		}
	}
	dist := func(p uintptr) uintptr {
		if p > s.entry {
			return p - s.entry
		}
		return s.entry - p
	}
	slices.SortFunc(pages, func(a, b uintptr) int { return cmp.Compare(dist(a), dist(b)) })
	for _, page := range pages {
		at := max(lo, page)
		if al := (at + trampolineAlign - 1) &^ (trampolineAlign - 1); al <= hi {
			at = al
		}
		if at > hi || at+trampolineLen > page+ps {
			continue
		}
		if *budget <= 0 {
			return false
		}
		*budget--
		if err := mmapAt(page, 2*ps); err != nil {
			continue
		}
		data := page + ps
		code, ok := trampolineCode(at, data)
		if !ok {
			munmap(page, 2*ps)
			continue
		}
		copy(unsafe.Slice((*byte)(ptr(at)), len(code)), code)
		flushICache(at)
		if err := mprotect(page, ps, unix.PROT_READ|unix.PROT_EXEC); err != nil {
			munmap(page, 2*ps)
			continue
		}
		s.tramp, s.data = at, data
		return true
	}
	return false
}

// writeWord stores word at s.word, the page made writable for just that
// long, and returns once no thread can run the previous instructions
// without having seen the store (see commitWord).
func writeWord(s *site, word uint64) error {
	return writeWordWith(s, word, commitWord)
}

// writeWordWith is writeWord with the commit strategy given: commitWord,
// or parkedCommit to test the fallback.
func writeWordWith(s *site, word uint64, commit func(addr uintptr, word uint64) error) error {
	ps := uintptr(unix.Getpagesize())
	page := s.word &^ (ps - 1)
	if err := mprotect(page, ps, s.prot|unix.PROT_WRITE); err != nil {
		return err
	}
	err := commit(s.word, word)
	if perr := mprotect(page, ps, s.prot); perr != nil && err == nil {
		err = perr
	}
	return err
}

// parkedCommit stores word at addr with every P parked: the fallback of
// commitWord, and arm64's way.
func parkedCommit(addr uintptr, word uint64) error {
	return parkedStore(addr, word, parkTimeout)
}

// readCode returns up to 16 bytes of code at addr, stopping at the end of
// addr's page: enough to decode one instruction.
func readCode(addr uintptr) []byte {
	ps := uintptr(unix.Getpagesize())
	n := min(16, ps-addr&(ps-1))
	return append([]byte(nil), unsafe.Slice((*byte)(ptr(addr)), n)...)
}

// mmapAt maps size bytes of anonymous read-write memory exactly at addr,
// never replacing an existing mapping.
func mmapAt(addr, size uintptr) error {
	got, err := unix.MmapPtr(-1, 0, ptr(addr), size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE)
	if err != nil {
		return err
	}
	if uintptr(got) != addr { // kernels before 4.17 take MAP_FIXED_NOREPLACE as a hint
		unix.MunmapPtr(got, size)
		return unix.EEXIST
	}
	return nil
}

func munmap(addr, size uintptr) { unix.MunmapPtr(ptr(addr), size) }

// mprotect sets the protection of the pages [addr, addr+size), which are
// machine code or pages this package mapped, never Go memory.
func mprotect(addr, size uintptr, prot int) error {
	if err := unix.Mprotect(unsafe.Slice((*byte)(ptr(addr)), size), prot); err != nil {
		return fmt.Errorf("mprotect %#x: %w", addr, err)
	}
	return nil
}
