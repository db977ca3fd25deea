package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

func sampleState() *state {
	sum := sha256.Sum256([]byte("A"))
	h := hex.EncodeToString(sum[:])
	return &state{Version: formatVersion, Current: "exe:B", Baselines: []baselineRec{
		{Identity: "exe:B", Patches: []entry{
			{Order: 1, ID: "a.go-" + h[:12], Kind: hotswap.KindScript, Source: "/p/a.go", SHA256: h},
			{Order: 2, ID: "hand", Kind: hotswap.KindManual},
		}, Superseded: []superseded{{SHA256: h, ID: "x.go-" + h[:12]}}},
		{Identity: "exe:A"},
	}}
}

func TestParseRefuses(t *testing.T) {
	good, err := sampleState().encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(good); err != nil {
		t.Fatalf("parse(encode(s)): %v", err)
	}
	resum := func(doc string) []byte {
		sum := sha256.Sum256([]byte(doc))
		return []byte(doc + "\n" + sumPrefix + hex.EncodeToString(sum[:]) + "\n")
	}
	for name, data := range map[string][]byte{
		"empty":          nil,
		"no sum line":    bytes.TrimSuffix(good, []byte("\n")),
		"wrong sum":      bytes.Replace(good, []byte(`"exe:A"`), []byte(`"exe:C"`), 1),
		"version":        resum(`{"version":2,"current":"","baselines":[]}`),
		"unknown field":  resum(`{"version":1,"current":"","baselines":[],"x":1}`),
		"no record":      resum(`{"version":1,"current":"exe:A","baselines":[]}`),
		"twice":          resum(`{"version":1,"current":"","baselines":[{"identity":"a","patches":[]},{"identity":"a","patches":[]}]}`),
		"order":          resum(`{"version":1,"current":"","baselines":[{"identity":"a","patches":[{"order":2,"id":"m","kind":"manual"}]}]}`),
		"bad sum":        resum(`{"version":1,"current":"","baselines":[{"identity":"a","patches":[{"order":1,"id":"m","kind":"script","source":"m","sha256":"zz"}]}]}`),
		"source escapes": resum(`{"version":1,"current":"","baselines":[{"identity":"a","patches":[{"order":1,"id":"..-559aead08264","kind":"script","source":"..","sha256":"559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd"}]}]}`),
		"two documents":  resum(`{"version":1,"current":"","baselines":[]} {}`),
	} {
		if _, err := parse(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: parse = %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzReadJournal checks that the reader never panics, refuses what it
// cannot use with ErrCorrupt, and reads back what it accepts.
func FuzzReadJournal(f *testing.F) {
	good, err := sampleState().encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{}\nsha256 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parse(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := s.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse(again); err != nil {
			t.Fatalf("accepted, but its own encoding is refused: %v", err)
		}
	})
}

// BenchmarkIdentity measures the identity of a binary without a source
// record: the SHA-256 of the executable (the test binary here; set
// JOURNAL_BENCH_EXE=path for another, e.g. the example server).
func BenchmarkIdentity(b *testing.B) {
	exe := os.Getenv("JOURNAL_BENCH_EXE")
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(exe)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := exeIdentity(exe); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoBuildID measures the identity of a Linux binary without a
// source record: its Go build ID (JOURNAL_BENCH_EXE as above).
func BenchmarkGoBuildID(b *testing.B) {
	exe := os.Getenv("JOURNAL_BENCH_EXE")
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := goBuildID(exe); !ok && runtime.GOOS == "linux" {
			b.Fatal("no Go build ID")
		}
	}
}
