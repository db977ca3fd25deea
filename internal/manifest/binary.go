package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// A baseline's manifest follows its ELF contents: the manifest text, its
// length in 8 bytes little-endian, and sourcesMagic.
const (
	// sourcesMagic ends a binary that carries a manifest.
	sourcesMagic = "\x00hotpatch-manifest\n"
	// maxSources bounds the record a reader accepts: about 100,000
	// packages.
	maxSources = 16 << 20
)

// WriteSources appends s, as a manifest of kind [KindBaseline], to the
// executable at path, after everything the
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
func WriteSources(path string, s fingerprint.Sources) error {
	text, err := Manifest{Kind: KindBaseline, Sources: s}.MarshalText()
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
	src, fi, err := patchfile.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	body, err := sourcesStart(src, fi.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// A build's output: made again when lost, so not synced.
	return atomicfile.Write(path, atomicfile.Options{Perm: fi.Mode().Perm(), NoSync: true}, func(f *os.File) error {
		if _, err := io.Copy(f, io.NewSectionReader(src, 0, body)); err != nil {
			return err
		}
		_, err := f.Write(slices.Concat(text, sourcesTrailer(text)))
		return err
	})
}

// ReadSources returns the source record appended to the executable at
// path by [WriteSources], or an error wrapping [ErrNoSources] if it has
// none. It reads the end of the file only.
func ReadSources(path string) (fingerprint.Sources, error) {
	// Opened without blocking, a regular file only: a FIFO in its place
	// would wait for a writer.
	f, fi, err := patchfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSources(f, fi.Size(), path)
}

func readSources(r io.ReaderAt, size int64, name string) (fingerprint.Sources, error) {
	start, err := sourcesStart(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	text := make([]byte, size-int64(len(sourcesMagic))-8-start)
	if _, err := r.ReadAt(text, start); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var m Manifest
	if err := m.UnmarshalText(text); err != nil {
		return nil, fmt.Errorf("%s: source record: %w", name, err)
	}
	if m.Kind != KindBaseline {
		return nil, fmt.Errorf("%s: %w: the record appended is of kind %s, want %s", name, ErrBad, m.Kind, KindBaseline)
	}
	if m.Sources == nil {
		m.Sources = fingerprint.Sources{}
	}
	return m.Sources, nil
}

// sourcesStart returns the offset at which the record of a file of size
// bytes starts, checking its trailer: an error wrapping [ErrNoSources]
// without one, [ErrBad] for a length that cannot be (the length is
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
		return 0, fmt.Errorf("%w: its length, %d bytes, is more than the file before it holds or than %d", ErrBad, n, maxSources)
	}
	return size - tail - int64(n), nil
}

// RunningSources returns the source record of the running executable,
// read from /proc/self/exe where there is one (it names the file the
// process started from even if that was since replaced or removed), else
// from [os.Executable].
func RunningSources() (fingerprint.Sources, error) {
	path := "/proc/self/exe"
	if _, err := os.Stat(path); err != nil {
		if path, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	return ReadSources(path)
}
