package native

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// The contract between `hotpatch patch build` and this loader, declared in
// the manifest package both import: where a patch .so keeps what the loader
// reads before opening it, and the names of what it exports.
const (
	// Ext is the file name extension of native patches.
	Ext = manifest.NativeExt

	// Section is the ELF section that holds a patch's manifest as text.
	// It is allocated read-only data written by a C declaration in the
	// generated file, so it survives `-ldflags=-s -w`, and the loader reads
	// it with debug/elf without mapping the file.
	Section = manifest.Section

	// SymbolSlots names the exported variable that maps slot names to
	// implementations: var HotpatchSlots = map[string]any{"example.Greet": Greet}.
	SymbolSlots = manifest.SymbolSlots

	// SymbolBaseline names the exported string variable that holds the
	// baseline fingerprint text again, for a check after opening.
	SymbolBaseline = manifest.SymbolBaseline

	// SymbolRedirects names the optional exported variable that lists
	// functions of the host to redirect, each as {target, replacement}:
	//
	//	var HotpatchRedirects = map[string][2]any{
	//		"example.com/app/billing.Round": {billing.Round, Round},
	//	}
	//
	// The patch source declares it; the plugin refers to the host's function
	// through the host's own package, so the compiler checks the name and
	// the types match.
	SymbolRedirects = manifest.SymbolRedirects

	// SymbolWrap names the exported func that returns the slot table and
	// the redirect replacements, each inside a wrapper of its exact type
	// that reports a panic through the func given before it goes on:
	//
	//	func HotpatchWrap(slot, redirect func(name string, v any)) (slots, redirects map[string]any)
	//
	// `hotpatch patch build` generates it into every patch; a patch
	// without it was built by an older build and is refused.
	SymbolWrap = manifest.SymbolWrap
)

// readManifest reads the manifest of the native patch at path without
// opening it as a plugin: nothing is mapped and no code of it runs. A file
// that is not an ELF shared object, or has no [Section], is refused with
// [ErrNotPatch]. The file is opened without blocking, and only a regular
// file is read (see package internal/patchfile).
func readManifest(path string) (manifest.Manifest, error) {
	f, fi, err := patchfile.Open(path)
	if err != nil {
		return manifest.Manifest{}, err
	}
	defer f.Close()
	info, err := inspect(f, fi.Size())
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return info.manifest, nil
}

// soInfo is what the loader learns from a patch file before opening it.
type soInfo struct {
	manifest manifest.Manifest
	mapped   int64 // bytes its loadable segments take once mapped, page-rounded
}

const pageSize = 4096

// inspect parses data as an ELF shared object and returns its manifest and
// mapped size. Section and program headers are at both ends of the file,
// so a truncated file fails here, before anything maps it.
func inspect(r io.ReaderAt, size int64) (soInfo, error) {
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		var magic [4]byte
		if n, _ := r.ReadAt(magic[:], 0); n == 4 && string(magic[:]) == elf.ELFMAG {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return soInfo{}, fmt.Errorf("%w: truncated: an ELF file of %d bytes whose headers point past its end "+
					"(was it copied while it was written?)", ErrNotPatch, size)
			}
			return soInfo{}, fmt.Errorf("%w: a damaged ELF file: %w", ErrNotPatch, err)
		}
		// Say what the file is rather than why debug/elf stopped reading
		// it (for a short file, "EOF").
		n, _ := r.ReadAt(magic[:], 0)
		return soInfo{}, fmt.Errorf("%w: not an ELF file: a file of %d bytes that starts with %q, not %q",
			ErrNotPatch, size, magic[:n], elf.ELFMAG)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return soInfo{}, fmt.Errorf("%w: ELF type %v, want a shared object (ET_DYN)", ErrNotPatch, f.Type)
	}
	var info soInfo
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Off+p.Filesz > uint64(size) {
			return soInfo{}, fmt.Errorf("%w: truncated: a loadable segment ends at byte %d of %d", ErrNotPatch, p.Off+p.Filesz, size)
		}
		start := p.Vaddr &^ (pageSize - 1)
		end := (p.Vaddr + p.Memsz + pageSize - 1) &^ (pageSize - 1)
		info.mapped += int64(end - start)
	}
	if info.mapped == 0 {
		return soInfo{}, fmt.Errorf("%w: no loadable segment", ErrNotPatch)
	}
	s := f.Section(Section)
	if s == nil {
		return soInfo{}, fmt.Errorf("%w: no %s section (build native patches with `hotpatch patch build`)", ErrNotPatch, Section)
	}
	if s.Type != elf.SHT_NOBITS && s.Offset+s.Size > uint64(size) {
		return soInfo{}, fmt.Errorf("%w: truncated: the %s section ends at byte %d of %d", ErrNotPatch, Section, s.Offset+s.Size, size)
	}
	if s.Size > 1<<20 {
		return soInfo{}, fmt.Errorf("%w: %s section of %d bytes", ErrBadManifest, Section, s.Size)
	}
	text, err := io.ReadAll(s.Open())
	if err != nil {
		return soInfo{}, fmt.Errorf("%w: reading %s: %w", ErrNotPatch, Section, err)
	}
	text = bytes.TrimRight(text, "\x00") // the C string's terminator
	if err := info.manifest.UnmarshalText(text); err != nil {
		return soInfo{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if info.manifest.Kind != manifest.KindNative {
		return soInfo{}, fmt.Errorf("%w: a manifest of kind %s, want %s", ErrBadManifest, info.manifest.Kind, manifest.KindNative)
	}
	return info, nil
}

// errNoWrap refuses a patch without [SymbolWrap].
var errNoWrap = fmt.Errorf("%w: no %s: the patch was built by an older `hotpatch patch build`, "+
	"without the wrappers that report its panics; build it again with the current one", ErrNoExport, SymbolWrap)

// exports reports whether the shared object data exports symbol sym of
// package pkg, by its name in the dynamic string table: a Go plugin
// exports its package's symbols there, so a patch built without one is
// refused before it is opened (and mapped for good). A string of the
// table is preceded by a NUL (or starts it) and ends with one.
func exports(data []byte, pkg, sym string) bool {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false
	}
	defer f.Close()
	s := f.Section(".dynstr")
	if s == nil || s.Type == elf.SHT_NOBITS || s.Offset+s.Size > uint64(len(data)) {
		return false
	}
	table := data[s.Offset : s.Offset+s.Size]
	name := []byte(symbolPrefix(pkg) + "." + sym + "\x00")
	return bytes.HasPrefix(table, name) || bytes.Contains(table, append([]byte{0}, name...))
}

// symbolPrefix is how the linker writes package path pkg in symbol names:
// control characters, space, '%', '"', and '.' after the last '/' escaped
// as %xx.
func symbolPrefix(pkg string) string {
	slash := strings.LastIndexByte(pkg, '/')
	var b strings.Builder
	for i := 0; i < len(pkg); i++ {
		c := pkg[i]
		if c <= ' ' || c == '%' || c == '"' || c >= 0x7f || c == '.' && i > slash {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
