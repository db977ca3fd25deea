package native

import (
	"bytes"
	"debug/elf"
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
	return info.Manifest, nil
}

// soInfo is what the loader learns from a patch file before opening it.
type soInfo = manifest.NativeInfo

// inspect parses data as an ELF shared object and returns its manifest
// and mapped size (see manifest.InspectNative).
func inspect(r io.ReaderAt, size int64) (soInfo, error) { return manifest.InspectNative(r, size) }

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
