package native

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	if err := WriteSources(path, s); err == nil {
		t.Errorf("a second record was written")
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
