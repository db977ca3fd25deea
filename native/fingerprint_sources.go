package native

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Errors of the source record.
var (
	// ErrNoSources is returned by [ReadSources] for a binary that carries no
	// source record: it was not built with `hotpatch build` (or the record
	// was stripped from the file afterwards).
	ErrNoSources = errors.New("native: binary carries no source record (not built with `hotpatch build`)")

	// ErrBadSources is returned when a source record cannot be parsed.
	ErrBadSources = errors.New("native: malformed source record")
)

// Sources is the source record of a build: for each package whose code is
// not pinned by a module sum (the packages of the main module, of modules
// replaced by a directory, and vendored ones), a hash of the content of its
// source files, by import path.
//
// A [Record] says which module versions and build settings a binary was
// built with, but not what the files of its own module held: in a module
// without VCS stamping, a function body edited after the build changes no
// fact of the Record, and the Go runtime's check at plugin.Open compares
// only a package's export data, which a body does not change. The source
// record is what catches that edit. `hotpatch build` computes it (with
// `go list`) and appends it to the binary ([WriteSources]); `hotpatch
// patch build` and the native loader compare it, package by package, with
// the tree a patch was built from ([DiffSources]).
//
// The hash of a package is "sha256:" and the hex SHA-256 of the Go version
// its module's go.mod states and of its file names and contents (Go, cgo,
// C, assembly, syso and embedded files), in name order; a tool computes
// it, this package only stores and compares it.
type Sources map[string]string

const (
	sourcesHeader = "hotpatch-sources v1"
	// sourcesMagic ends a binary that carries a source record; the 8 bytes
	// before it are the record's length, little-endian, and the record
	// comes before them.
	sourcesMagic = "\x00hotpatch-src-v1\n"
	// maxSources bounds the record a reader accepts: about 100,000
	// packages.
	maxSources = 16 << 20
)

// MarshalText encodes s: a header line, then one "path<TAB>hash" line per
// package, sorted by path.
func (s Sources) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(sourcesHeader + "\n")
	for _, p := range slices.Sorted(maps.Keys(s)) {
		if p == "" || strings.ContainsAny(p+s[p], "\t\n") || s[p] == "" {
			return nil, fmt.Errorf("%w: package %q hash %q", ErrBadSources, p, s[p])
		}
		b.WriteString(p + "\t" + s[p] + "\n")
	}
	return b.Bytes(), nil
}

// UnmarshalText parses the form written by [Sources.MarshalText], strictly.
func (s *Sources) UnmarshalText(text []byte) error {
	out := Sources{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if line != sourcesHeader {
				return fmt.Errorf("%w: line 1: want %q", ErrBadSources, sourcesHeader)
			}
			continue
		}
		p, h, ok := strings.Cut(line, "\t")
		if !ok || p == "" || h == "" || strings.Contains(h, "\t") {
			return fmt.Errorf("%w: line %d: want path<TAB>hash", ErrBadSources, n)
		}
		if _, dup := out[p]; dup {
			return fmt.Errorf("%w: line %d: package %s listed twice", ErrBadSources, n, p)
		}
		out[p] = h
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSources, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: empty", ErrBadSources)
	}
	*s = out
	return nil
}

// Hash returns the hex SHA-256 of the text form of s: equal exactly when
// two records hold the same packages with the same hashes. A baseline's
// identity for restarts may combine it with [Record.Hash], so that a
// rebuild from edited source counts as a new baseline.
func (s Sources) Hash() string {
	text, err := s.MarshalText()
	if err != nil {
		text = []byte(err.Error())
	}
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// DiffSources lists the packages that both a and b record with different
// hashes, sorted by path, as differences "source of package P". A package
// only one side records is no difference: a patch links a part of its
// baseline's packages, and may bring packages of its own.
func DiffSources(a, b Sources) []Difference {
	var out []Difference
	for _, p := range slices.Sorted(maps.Keys(a)) {
		if y, ok := b[p]; ok && y != a[p] {
			out = append(out, Difference{What: "source of package " + p, A: shortHash(a[p]), B: shortHash(y)})
		}
	}
	return out
}

// shortHash shortens "sha256:<hex>" for people; two hashes that differ
// differ in their first bytes but for a chance of 2^-48.
func shortHash(h string) string {
	if alg, hex, ok := strings.Cut(h, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return h
}

// WriteSources appends s to the executable at path, after everything the
// loader and debug tools read (the ELF file ends with its section headers,
// and nothing maps what follows them), so the binary runs and reads as
// before.
//
// A file that already carries a record keeps it if it is s, and has it
// replaced otherwise. That is the case of a baseline built again into the
// same file: the go command finds the binary up to date (its build ID
// still matches, the record notwithstanding) and leaves it as it is. The
// replacement is a new file renamed over the old one, never a write into
// it: the binary may be running, and Linux refuses to open a running
// executable for writing.
func WriteSources(path string, s Sources) error {
	text, err := s.MarshalText()
	if err != nil {
		return err
	}
	old, err := ReadSources(path)
	switch {
	case errors.Is(err, ErrNoSources):
		return appendSources(path, text)
	case err != nil:
		return err
	case old.Hash() == s.Hash():
		return nil
	}
	return replaceSources(path, text)
}

// sourcesTrailer returns what follows the record text: its length and
// the magic string.
func sourcesTrailer(text []byte) []byte {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(text)))
	return slices.Concat(n[:], []byte(sourcesMagic))
}

func appendSources(path string, text []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(slices.Concat(text, sourcesTrailer(text)))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// replaceSources writes a copy of the executable at path with text in
// place of the record it carries, and renames it over path.
func replaceSources(path string, text []byte) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	body, err := sourcesStart(src, fi.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	_, err = io.Copy(tmp, io.NewSectionReader(src, 0, body))
	if err == nil {
		_, err = tmp.Write(slices.Concat(text, sourcesTrailer(text)))
	}
	if err == nil {
		err = tmp.Chmod(fi.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadSources returns the source record appended to the executable at
// path by [WriteSources], or an error wrapping [ErrNoSources] if it has
// none. It reads the end of the file only.
func ReadSources(path string) (Sources, error) {
	// Checked by name first: opening a FIFO for reading would wait for a
	// writer.
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return readSources(f, fi.Size(), path)
}

func readSources(r io.ReaderAt, size int64, name string) (Sources, error) {
	start, err := sourcesStart(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	text := make([]byte, size-int64(len(sourcesMagic))-8-start)
	if _, err := r.ReadAt(text, start); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var s Sources
	if err := s.UnmarshalText(text); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// sourcesStart returns the offset at which the record of a file of size
// bytes starts, checking its trailer: an error wrapping [ErrNoSources]
// without one, [ErrBadSources] for a length that cannot be (the length is
// read from the file, so it is bounded before anything is allocated).
func sourcesStart(r io.ReaderAt, size int64) (int64, error) {
	tail := int64(8 + len(sourcesMagic))
	if size < tail {
		return 0, ErrNoSources
	}
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil {
		return 0, err
	}
	if string(buf[8:]) != sourcesMagic {
		return 0, ErrNoSources
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	if n > maxSources || n > uint64(size-tail) {
		return 0, fmt.Errorf("%w: its length, %d bytes, is more than the file before it holds or than %d", ErrBadSources, n, maxSources)
	}
	return size - tail - int64(n), nil
}

// RunningSources returns the source record of the running executable,
// read from /proc/self/exe where there is one (it names the file the
// process started from even if that was since replaced or removed), else
// from [os.Executable].
func RunningSources() (Sources, error) {
	path := "/proc/self/exe"
	if _, err := os.Stat(path); err != nil {
		if path, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	return ReadSources(path)
}
