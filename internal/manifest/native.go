package manifest

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
)

// Errors of [InspectNative]; package native returns them as its
// ErrNotPatch and ErrBadManifest.
var (
	ErrNotNative = errors.New("native: not a native patch")
	ErrBadNative = errors.New("native: malformed patch manifest")
)

// NativeInfo is what a native patch file says before it is opened.
type NativeInfo struct {
	Manifest Manifest
	Mapped   int64 // bytes its loadable segments take once mapped, page-rounded
}

const pageSize = 4096

// InspectNative parses data as an ELF shared object and returns its manifest and
// mapped size. Section and program headers are at both ends of the file,
// so a truncated file fails here, before anything maps it.
func InspectNative(r io.ReaderAt, size int64) (NativeInfo, error) {
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		var magic [4]byte
		if n, _ := r.ReadAt(magic[:], 0); n == 4 && string(magic[:]) == elf.ELFMAG {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return NativeInfo{}, fmt.Errorf("%w: truncated: an ELF file of %d bytes whose headers point past its end "+
					"(was it copied while it was written?)", ErrNotNative, size)
			}
			return NativeInfo{}, fmt.Errorf("%w: a damaged ELF file: %w", ErrNotNative, err)
		}
		// Say what the file is rather than why debug/elf stopped reading
		// it (for a short file, "EOF").
		n, _ := r.ReadAt(magic[:], 0)
		return NativeInfo{}, fmt.Errorf("%w: not an ELF file: a file of %d bytes that starts with %q, not %q",
			ErrNotNative, size, magic[:n], elf.ELFMAG)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return NativeInfo{}, fmt.Errorf("%w: ELF type %v, want a shared object (ET_DYN)", ErrNotNative, f.Type)
	}
	var info NativeInfo
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Off+p.Filesz > uint64(size) {
			return NativeInfo{}, fmt.Errorf("%w: truncated: a loadable segment ends at byte %d of %d", ErrNotNative, p.Off+p.Filesz, size)
		}
		start := p.Vaddr &^ (pageSize - 1)
		end := (p.Vaddr + p.Memsz + pageSize - 1) &^ (pageSize - 1)
		info.Mapped += int64(end - start)
	}
	if info.Mapped == 0 {
		return NativeInfo{}, fmt.Errorf("%w: no loadable segment", ErrNotNative)
	}
	s := f.Section(Section)
	if s == nil {
		return NativeInfo{}, fmt.Errorf("%w: no %s section (build native patches with `hotpatch patch build`)", ErrNotNative, Section)
	}
	if s.Type != elf.SHT_NOBITS && s.Offset+s.Size > uint64(size) {
		return NativeInfo{}, fmt.Errorf("%w: truncated: the %s section ends at byte %d of %d", ErrNotNative, Section, s.Offset+s.Size, size)
	}
	if s.Size > 1<<20 {
		return NativeInfo{}, fmt.Errorf("%w: %s section of %d bytes", ErrBadNative, Section, s.Size)
	}
	text, err := io.ReadAll(s.Open())
	if err != nil {
		return NativeInfo{}, fmt.Errorf("%w: reading %s: %w", ErrNotNative, Section, err)
	}
	text = bytes.TrimRight(text, "\x00") // the C string's terminator
	if err := info.Manifest.UnmarshalText(text); err != nil {
		return NativeInfo{}, fmt.Errorf("%w: %w", ErrBadNative, err)
	}
	if info.Manifest.Kind != KindNative {
		return NativeInfo{}, fmt.Errorf("%w: a manifest of kind %s, want %s", ErrBadNative, info.Manifest.Kind, KindNative)
	}
	return info, nil
}
