package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"go/ast"
	"go/types"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/loader"
)

// describePayload returns the manifest fields that the payload at path,
// whose bytes are data, says about itself: its kind (by extension), the
// slots it serves and, for a native patch, its baseline.
func describePayload(path string, data []byte) (bundle.Manifest, error) {
	m := bundle.Manifest{Payload: bundle.Payload{Name: filepath.Base(path)}}
	switch ext := filepath.Ext(path); ext {
	case ".go":
		m.Kind = "script"
		src, err := loader.Parse(path, data)
		if err != nil {
			return m, err
		}
		funcs := map[string]*ast.FuncDecl{}
		for _, d := range src.AST.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
			}
		}
		for _, d := range src.Directives {
			typ := ""
			if fd := funcs[d.Func]; fd != nil {
				// On one line, whatever the source's layout: the
				// manifest's text holds no control characters.
				typ = types.ExprString(fd.Type)
			}
			m.Slots = append(m.Slots, bundle.Slot{Name: d.Slot, Type: typ})
		}
	case manifest.NativeExt:
		m.Kind = "native"
		// Read as the native loader reads it, with the same checks.
		info, err := manifest.InspectNative(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return m, fmt.Errorf("%s: %w", path, err)
		}
		nm := info.Manifest
		m.Baseline = nm.Baseline.Hash()
		for _, n := range nm.SlotNames() {
			m.Slots = append(m.Slots, bundle.Slot{Name: n})
		}
	case manifest.ProcessExt:
		m.Kind = "process"
		// The slots are in the manifest the build set with -X; a binary
		// whose symbols were stripped does not say where, and is bundled
		// without them (the host checks the slots at handshake anyway).
		if nm, ok := readProcessManifest(data); ok {
			for _, s := range nm.Slots {
				m.Slots = append(m.Slots, bundle.Slot{Name: s.Name, Type: s.Type})
			}
		}
	default:
		return m, usageError("%s: unknown payload extension %q (want .go, %s or %s)", path, ext, manifest.NativeExt, manifest.ProcessExt)
	}
	return m, nil
}

// readProcessManifest reads the manifest of a process patch: the Go string
// variable manifest.ProcessVar, a (pointer, length) pair in the ELF file's
// data, found by its symbol.
func readProcessManifest(data []byte) (manifest.Manifest, bool) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil || f.Class != elf.ELFCLASS64 {
		return manifest.Manifest{}, false
	}
	syms, err := f.Symbols()
	if err != nil {
		return manifest.Manifest{}, false
	}
	read := func(addr, n uint64) []byte {
		for _, s := range f.Sections {
			if s.Type != elf.SHT_NOBITS && addr >= s.Addr && n <= s.Size && addr-s.Addr <= s.Size-n {
				buf := make([]byte, n)
				if _, err := s.ReadAt(buf, int64(addr-s.Addr)); err == nil {
					return buf
				}
			}
		}
		return nil
	}
	for _, s := range syms {
		if s.Name != manifest.ProcessVar {
			continue
		}
		hdr := read(s.Value, 16)
		if hdr == nil {
			break
		}
		ptr, n := f.ByteOrder.Uint64(hdr), f.ByteOrder.Uint64(hdr[8:])
		if n == 0 || n > 1<<20 {
			break
		}
		text := read(ptr, n)
		if text == nil {
			break
		}
		m, err := manifest.Decode(string(text))
		return m, err == nil
	}
	return manifest.Manifest{}, false
}
