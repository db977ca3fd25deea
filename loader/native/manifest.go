package nativeloader

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/native"
)

// The contract between `hotpatch patch build` and this loader: where a
// patch .so keeps what the loader reads before opening it, and the names of
// what it exports.
const (
	// Ext is the file name extension of native patches.
	Ext = ".so"

	// Section is the ELF section that holds a patch's [Manifest] as text.
	// It is allocated read-only data written by a C declaration in the
	// generated file, so it survives `-ldflags=-s -w`, and the loader reads
	// it with debug/elf without mapping the file.
	Section = ".hotpatch"

	// SymbolSlots names the exported variable that maps slot names to
	// implementations: var HotpatchSlots = map[string]any{"example.Greet": Greet}.
	SymbolSlots = "HotpatchSlots"

	// SymbolBaseline names the exported string variable that holds the
	// baseline fingerprint text again, for a check after opening.
	SymbolBaseline = "HotpatchBaseline"

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
	SymbolRedirects = "HotpatchRedirects"
)

const manifestHeader = "hotpatch-native v1"

// Manifest is what a native patch says about itself, stored as text in its
// [Section]. [ReadManifest] reads it without opening the file.
type Manifest struct {
	ID        string        // unique per build: the last element of the plugin path
	Package   string        // the plugin path (import path of the patch package)
	Source    string        // base name of the patch source file
	SourceSum string        // "sha256:" and the hex digest of the patch source
	Slots     []string      // slot names the patch serves, sorted
	Redirects []string      // host functions it redirects, sorted; may be empty
	Baseline  native.Record // fingerprint of the baseline it was built against

	// Sources is the source record (see [native.Sources]) of the packages
	// the patch links, as the tree it was built from held them. The loader
	// compares it with the running binary's own record: a package both
	// record with different source means the patch carries code the binary
	// does not contain.
	Sources native.Sources
}

// MarshalText encodes m: a header, one "key<TAB>value" line per field
// (one "slot" or "redirect" line per name, one "src<TAB>package<TAB>hash"
// line per package of Sources), a blank line, and the baseline fingerprint
// in its own text form ([native.Record.MarshalText]).
func (m Manifest) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(manifestHeader + "\n")
	for _, kv := range [][2]string{{"id", m.ID}, {"package", m.Package}, {"source", m.Source}, {"sum", m.SourceSum}} {
		if strings.ContainsAny(kv[1], "\t\n") {
			return nil, fmt.Errorf("%w: %s %q holds a tab or newline", ErrBadManifest, kv[0], kv[1])
		}
		b.WriteString(kv[0] + "\t" + kv[1] + "\n")
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"slot", m.Slots}, {"redirect", m.Redirects}} {
		for _, n := range list.names {
			if n == "" || strings.ContainsAny(n, "\t\n") {
				return nil, fmt.Errorf("%w: %s %q", ErrBadManifest, list.key, n)
			}
			b.WriteString(list.key + "\t" + n + "\n")
		}
	}
	for _, p := range slices.Sorted(maps.Keys(m.Sources)) {
		h := m.Sources[p]
		if p == "" || h == "" || strings.ContainsAny(p+h, "\t\n") {
			return nil, fmt.Errorf("%w: src %q %q", ErrBadManifest, p, h)
		}
		b.WriteString("src\t" + p + "\t" + h + "\n")
	}
	b.WriteByte('\n')
	fp, err := m.Baseline.MarshalText()
	if err != nil {
		return nil, err
	}
	b.Write(fp)
	return b.Bytes(), nil
}

// UnmarshalText parses the form written by [Manifest.MarshalText]. It is
// strict: anything unexpected is an error wrapping [ErrBadManifest].
func (m *Manifest) UnmarshalText(text []byte) error {
	head, fp, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return fmt.Errorf("%w: no blank line before the fingerprint", ErrBadManifest)
	}
	var out Manifest
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(nil, 1<<20)
	n := 0
	seen := map[string]bool{}
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if line != manifestHeader {
				return fmt.Errorf("%w: line 1: want %q", ErrBadManifest, manifestHeader)
			}
			continue
		}
		key, val, ok := strings.Cut(line, "\t")
		if key == "src" {
			p, h, ok := strings.Cut(val, "\t")
			if !ok || p == "" || h == "" || strings.Contains(h, "\t") {
				return fmt.Errorf("%w: line %d: want src<TAB>package<TAB>hash", ErrBadManifest, n)
			}
			if out.Sources == nil {
				out.Sources = native.Sources{}
			}
			if _, dup := out.Sources[p]; dup {
				return fmt.Errorf("%w: line %d: src %s listed twice", ErrBadManifest, n, p)
			}
			out.Sources[p] = h
			continue
		}
		if !ok || strings.Contains(val, "\t") {
			return fmt.Errorf("%w: line %d: want key<TAB>value", ErrBadManifest, n)
		}
		switch key {
		case "id", "package", "source", "sum":
			if seen[key] {
				return fmt.Errorf("%w: line %d: duplicate %s", ErrBadManifest, n, key)
			}
			seen[key] = true
			switch key {
			case "id":
				out.ID = val
			case "package":
				out.Package = val
			case "source":
				out.Source = val
			case "sum":
				out.SourceSum = val
			}
		case "slot", "redirect":
			if val == "" {
				return fmt.Errorf("%w: line %d: empty %s", ErrBadManifest, n, key)
			}
			if key == "slot" {
				out.Slots = append(out.Slots, val)
			} else {
				out.Redirects = append(out.Redirects, val)
			}
		default:
			return fmt.Errorf("%w: line %d: unknown key %q", ErrBadManifest, n, key)
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: empty", ErrBadManifest)
	}
	if !validID(out.ID) {
		return fmt.Errorf("%w: id %q is not a name of letters, digits, '_', '-' and '.'", ErrBadManifest, out.ID)
	}
	if out.Package == "" || len(out.Slots) == 0 {
		return fmt.Errorf("%w: no package or no slot", ErrBadManifest)
	}
	for _, list := range [][]string{out.Slots, out.Redirects} {
		slices.Sort(list)
		if i := duplicate(list); i >= 0 {
			return fmt.Errorf("%w: %s listed twice", ErrBadManifest, list[i])
		}
	}
	if err := out.Baseline.UnmarshalText(fp); err != nil {
		return fmt.Errorf("%w: baseline: %w", ErrBadManifest, err)
	}
	*m = out
	return nil
}

// validID reports whether id can name a file: the loader's private copy
// of the patch is named after it.
func validID(id string) bool {
	if id == "" || len(id) > 200 || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func duplicate(sorted []string) int {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return i
		}
	}
	return -1
}

// ReadManifest reads the manifest of the native patch at path without
// opening it as a plugin: nothing is mapped and no code of it runs. A file
// that is not an ELF shared object, or has no [Section], is refused with
// [ErrNotPatch]. The file is opened without blocking, and only a regular
// file is read (see package internal/patchfile).
func ReadManifest(path string) (Manifest, error) {
	f, fi, err := patchfile.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	info, err := inspect(f, fi.Size())
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return info.manifest, nil
}

// soInfo is what the loader learns from a patch file before opening it.
type soInfo struct {
	manifest Manifest
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
		return soInfo{}, err
	}
	return info, nil
}
