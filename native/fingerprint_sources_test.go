package native

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFingerprintSourcesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bin")
	body := []byte("\x7fELF not really, but any bytes will do")
	if err := os.WriteFile(path, body, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSources(path); !errors.Is(err, ErrNoSources) {
		t.Fatalf("ReadSources of a file without a record: %v, want ErrNoSources", err)
	}
	s := Sources{"example.com/app/greet": "sha256:aaaa", "example.com/app": "sha256:bbbb"}
	if err := WriteSources(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSources(path)
	if err != nil || len(got) != 2 || got["example.com/app/greet"] != "sha256:aaaa" {
		t.Fatalf("ReadSources = %v, %v", got, err)
	}
	data, _ := os.ReadFile(path)
	if !slices.Equal(data[:len(body)], body) {
		t.Errorf("the record changed the bytes before it")
	}
	// Written again, as when a baseline is built again into the same file
	// and the go command leaves it as it was: the same record is kept, a
	// new one replaces it, and a record is never added twice.
	before, _ := os.ReadFile(path)
	if err := WriteSources(path, s); err != nil {
		t.Fatalf("the same record again: %v", err)
	}
	if after, _ := os.ReadFile(path); !slices.Equal(after, before) {
		t.Errorf("the same record written again changed the file")
	}
	s2 := Sources{"example.com/app/greet": "sha256:cccc"}
	if err := WriteSources(path, s2); err != nil {
		t.Fatalf("another record: %v", err)
	}
	data, _ = os.ReadFile(path)
	text, _ := s2.MarshalText()
	if want := len(body) + len(text) + 8 + len(sourcesMagic); len(data) != want || !slices.Equal(data[:len(body)], body) {
		t.Errorf("after a new record the file is %d bytes, want %d, the body first", len(data), want)
	}
	if got, err := ReadSources(path); err != nil || got.Hash() != s2.Hash() {
		t.Errorf("ReadSources after a new record = %v, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
		t.Errorf("the new record changed the mode to %v", fi.Mode())
	}
	for name, bad := range map[string]Sources{"empty path": {"": "sha256:x"}, "tab": {"a\tb": "x"}, "no hash": {"a": ""}} {
		if _, err := bad.MarshalText(); !errors.Is(err, ErrBadSources) {
			t.Errorf("%s: MarshalText err = %v", name, err)
		}
	}
}

// TestFingerprintSourcesCorrupt: a record that lies about its length or
// holds garbage is refused, never read past the file.
func TestFingerprintSourcesCorrupt(t *testing.T) {
	for name, tail := range map[string]string{
		"huge length": "\xff\xff\xff\xff\xff\xff\xff\x7f" + sourcesMagic,
		"past start":  "\x40\x00\x00\x00\x00\x00\x00\x00" + sourcesMagic,
		"bad text":    "hotpatch-sources v1\nno tab here\n\x20\x00\x00\x00\x00\x00\x00\x00" + sourcesMagic,
		"bad header":  "x\n\x02\x00\x00\x00\x00\x00\x00\x00" + sourcesMagic,
	} {
		path := filepath.Join(t.TempDir(), "bin")
		os.WriteFile(path, []byte(tail), 0o644)
		if _, err := ReadSources(path); !errors.Is(err, ErrBadSources) {
			t.Errorf("%s: err = %v, want ErrBadSources", name, err)
		}
	}
}

func TestFingerprintDiffSources(t *testing.T) {
	patch := Sources{"a": "sha256:0123456789abcdef", "b": "sha256:1", "new": "sha256:2"}
	running := Sources{"a": "sha256:fedcba9876543210", "b": "sha256:1", "main": "sha256:3"}
	d := DiffSources(patch, running)
	if len(d) != 1 || d[0].What != "source of package a" || d[0].A != "sha256:0123456789ab" {
		t.Fatalf("DiffSources = %v", d)
	}
	if running.Hash() == patch.Hash() || running.Hash() != (Sources{"main": "sha256:3", "b": "sha256:1", "a": "sha256:fedcba9876543210"}).Hash() {
		t.Errorf("Hash does not follow the content")
	}
	if DiffSources(running, running) != nil {
		t.Errorf("DiffSources of equal records is not empty")
	}
}

// FuzzReadSources: whatever ends the file, reading its record returns a
// record or an error, never reads outside the file, and never allocates
// more than the file holds; a record read back marshals to itself.
func FuzzReadSources(f *testing.F) {
	good, _ := Sources{"example.com/app": "sha256:ab", "example.com/app/x": "sha256:cd"}.MarshalText()
	trailer := func(n uint64) string {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], n)
		return string(b[:]) + sourcesMagic
	}
	f.Add("\x7fELF" + string(good) + trailer(uint64(len(good))))
	f.Add(string(good) + trailer(uint64(len(good))) + string(good) + trailer(uint64(len(good))))
	f.Add(trailer(1 << 62))
	f.Add("hotpatch-sources v1\n" + trailer(20))
	f.Add(sourcesHeader + "\na\tb\na\tc\n" + trailer(26))
	f.Add(sourcesMagic)
	f.Fuzz(func(t *testing.T, data string) {
		r := strings.NewReader(data)
		s, err := readSources(r, int64(len(data)), "bin")
		if err != nil {
			if !errors.Is(err, ErrNoSources) && !errors.Is(err, ErrBadSources) {
				t.Fatalf("error %v is neither ErrNoSources nor ErrBadSources", err)
			}
			return
		}
		text, err := s.MarshalText()
		if err != nil {
			t.Fatalf("a record read back does not marshal: %v", err)
		}
		var again Sources
		if err := again.UnmarshalText(text); err != nil || again.Hash() != s.Hash() {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}
