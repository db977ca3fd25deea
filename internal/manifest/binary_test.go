package manifest

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// baselineText is the text WriteSources appends for s.
func baselineText(s fingerprint.Sources) []byte {
	text, err := Manifest{Kind: KindBaseline, Sources: s}.MarshalText()
	if err != nil {
		panic(err)
	}
	return text
}

func TestSourcesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bin")
	body := []byte("\x7fELF not really, but any bytes will do")
	if err := os.WriteFile(path, body, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSources(path); !errors.Is(err, ErrNoSources) {
		t.Fatalf("ReadSources of a file without a record: %v, want ErrNoSources", err)
	}
	s := fingerprint.Sources{"example.com/app/greet": "sha256:aaaa", "example.com/app": "sha256:bbbb"}
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
	s2 := fingerprint.Sources{"example.com/app/greet": "sha256:cccc"}
	if err := WriteSources(path, s2); err != nil {
		t.Fatalf("another record: %v", err)
	}
	data, _ = os.ReadFile(path)
	text := baselineText(s2)
	if want := len(body) + len(text) + 8 + len(sourcesMagic); len(data) != want || !slices.Equal(data[:len(body)], body) {
		t.Errorf("after a new record the file is %d bytes, want %d, the body first", len(data), want)
	}
	if got, err := ReadSources(path); err != nil || got.Hash() != s2.Hash() {
		t.Errorf("ReadSources after a new record = %v, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
		t.Errorf("the new record changed the mode to %v", fi.Mode())
	}
	for name, bad := range map[string]fingerprint.Sources{"empty path": {"": "sha256:x"}, "no hash": {"a": ""}} {
		if err := WriteSources(path, bad); !errors.Is(err, ErrBad) {
			t.Errorf("%s: WriteSources err = %v", name, err)
		}
	}
}

// TestSourcesCorrupt: a record that lies about its length or
// holds garbage is refused, never read past the file.
func TestSourcesCorrupt(t *testing.T) {
	process := "hotpatch-manifest v1\nkind\tprocess\npackage\tp\nslot\ta\tA\tfunc()\n"
	for name, tail := range map[string]string{
		"huge length":    "\xff\xff\xff\xff\xff\xff\xff\x7f" + sourcesMagic,
		"past start":     "\x40\x00\x00\x00\x00\x00\x00\x00" + sourcesMagic,
		"bad text":       withTrailer("hotpatch-manifest v1\nkind\tbaseline\nno tab here\n"),
		"old format":     withTrailer("hotpatch-sources v1\na\tb\n"),
		"not a baseline": withTrailer(process),
		"bad header":     withTrailer("x\n"),
	} {
		path := filepath.Join(t.TempDir(), "bin")
		os.WriteFile(path, []byte(tail), 0o644)
		if _, err := ReadSources(path); !errors.Is(err, ErrBad) {
			t.Errorf("%s: err = %v, want ErrBad", name, err)
		}
	}
}

// FuzzReadSources: whatever ends the file, reading its record returns a
// record or an error, never reads outside the file, and never allocates
// more than the file holds; a record read back marshals to itself.
func FuzzReadSources(f *testing.F) {
	good := baselineText(fingerprint.Sources{"example.com/app": "sha256:ab", "example.com/app/x": "sha256:cd"})
	trailer := func(n uint64) string {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], n)
		return string(b[:]) + sourcesMagic
	}
	f.Add("\x7fELF" + string(good) + trailer(uint64(len(good))))
	f.Add(string(good) + trailer(uint64(len(good))) + string(good) + trailer(uint64(len(good))))
	f.Add(trailer(1 << 62))
	f.Add("hotpatch-manifest v1\n" + trailer(21))
	f.Add(header + "\nkind\tbaseline\nsrc\ta\tb\nsrc\ta\tc\n" + trailer(56))
	f.Add(sourcesMagic)
	f.Fuzz(func(t *testing.T, data string) {
		r := strings.NewReader(data)
		s, err := readSources(r, int64(len(data)), "bin")
		if err != nil {
			if !errors.Is(err, ErrNoSources) && !errors.Is(err, ErrBad) {
				t.Fatalf("error %v is neither ErrNoSources nor ErrBad", err)
			}
			return
		}
		text, err := Manifest{Kind: KindBaseline, Sources: s}.MarshalText()
		if err != nil {
			t.Fatalf("a record read back does not marshal: %v", err)
		}
		var again Manifest
		if err := again.UnmarshalText(text); err != nil || again.Sources.Hash() != s.Hash() {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}

// withTrailer returns text as a binary's tail: text, its length, the magic.
func withTrailer(text string) string {
	return text + string(sourcesTrailer([]byte(text)))
}
