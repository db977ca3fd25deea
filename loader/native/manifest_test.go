package nativeloader

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/native"
)

func testManifest() Manifest {
	rec, _ := native.FingerprintOf(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "example.com/app",
		Main:      debug.Module{Path: "example.com/app", Version: "(devel)"},
		Deps:      []*debug.Module{{Path: "golang.org/x/text", Version: "v0.42.0", Sum: "h1:abc="}},
		Settings:  []debug.BuildSetting{{Key: "-race", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}, {Key: "-buildmode", Value: "exe"}},
	})
	return Manifest{
		ID:        "greet_20261127T100000_0a1b2c3d",
		Package:   "example.com/app/.hotpatch/build/greet_20261127T100000_0a1b2c3d",
		Source:    "greet.go",
		SourceSum: "sha256:00ff",
		Slots:     []string{"example.Add", "example.Greet"},
		Redirects: []string{"example.com/app/billing.Round"},
		Baseline:  rec,
		Sources:   native.Sources{"example.com/app/billing": "sha256:0011", "example.com/app": "sha256:2233"},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest()
	text, err := m.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var got Manifest
	if err := got.UnmarshalText(text); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	again, _ := got.MarshalText()
	if !bytes.Equal(text, again) {
		t.Fatalf("round trip changed the text:\n%s\n---\n%s", text, again)
	}
	if got.Baseline.Hash() != m.Baseline.Hash() || got.ID != m.ID || len(got.Slots) != 2 || got.Sources["example.com/app/billing"] != "sha256:0011" {
		t.Fatalf("got %+v", got)
	}
}

func TestManifestErrors(t *testing.T) {
	good, _ := testManifest().MarshalText()
	head, fp, _ := strings.Cut(string(good), "\n\n")
	for name, text := range map[string]string{
		"empty":          "",
		"no blank line":  head,
		"bad header":     strings.Replace(head, "v1", "v9", 1) + "\n\n" + fp,
		"unknown key":    head + "\ncolor\tblue\n\n" + fp,
		"no tab":         head + "\nslot\n\n" + fp,
		"duplicate id":   head + "\nid\tx\n\n" + fp,
		"duplicate slot": head + "\nslot\texample.Greet\n\n" + fp,
		"duplicate src":  head + "\nsrc\texample.com/app\tsha256:9\n\n" + fp,
		"src no hash":    head + "\nsrc\texample.com/x\n\n" + fp,
		"no slot":        strings.NewReplacer("slot\texample.Add\n", "", "slot\texample.Greet\n", "").Replace(head) + "\n\n" + fp,
		"bad baseline":   head + "\n\nnot a fingerprint\n",
		"id with slash":  strings.Replace(head, "id\tgreet_", "id\t../greet_", 1) + "\n\n" + fp,
		"no package":     strings.Replace(head, "package\texample.com/app/.hotpatch/build/greet_20261127T100000_0a1b2c3d\n", "", 1) + "\n\n" + fp,
	} {
		var m Manifest
		if err := m.UnmarshalText([]byte(text)); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: err = %v, want ErrBadManifest", name, err)
		}
	}
	bad := testManifest()
	bad.Slots = append(bad.Slots, "a\tb")
	if _, err := bad.MarshalText(); !errors.Is(err, ErrBadManifest) {
		t.Errorf("MarshalText with a tab in a slot: %v", err)
	}
}

func TestInspectRefusesNonPatches(t *testing.T) {
	self, err := os.Executable() // an ELF executable, not a shared object
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":      nil,
		"text":       []byte("package main\n"),
		"executable": exe,
		"elf magic":  []byte("\x7fELF\x02\x01\x01"),
	} {
		if _, err := inspect(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotPatch) {
			t.Errorf("%s: err = %v, want ErrNotPatch", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "x.so")
	os.WriteFile(path, []byte("nope"), 0o644)
	if _, err := ReadManifest(path); !errors.Is(err, ErrNotPatch) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadManifest: %v", err)
	}
}

// TestInspectNotELF: a file that is not ELF at all, short or long, is
// said to be that, not "EOF".
func TestInspectNotELF(t *testing.T) {
	for _, data := range []string{"", "junk\n", "this is not an ELF file but long enough for its header"} {
		_, err := inspect(strings.NewReader(data), int64(len(data)))
		if msg := fmt.Sprint(err); !errors.Is(err, ErrNotPatch) || !strings.Contains(msg, "not an ELF file") || strings.Contains(msg, "EOF") {
			t.Errorf("%q: err = %v, want ErrNotPatch saying not an ELF file, without EOF", data, err)
		}
	}
}

// TestInspectTruncated: an ELF file cut short (a copy in progress, a full
// disk) is said to be truncated, not "not an ELF file: EOF".
func TestInspectTruncated(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{64, 100, 4096, len(exe) / 2, len(exe) - 1} {
		_, err := inspect(bytes.NewReader(exe[:n]), int64(n))
		if !errors.Is(err, ErrNotPatch) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("first %d bytes: err = %v, want ErrNotPatch saying truncated", n, err)
		}
	}
}

// FuzzManifest checks that parsing never panics and that what it accepts
// encodes back to text it accepts again with the same meaning.
func FuzzManifest(f *testing.F) {
	good, _ := testManifest().MarshalText()
	f.Add(good)
	f.Add([]byte(manifestHeader + "\nid\tx\nslot\ta.B\n\nhotpatch-fingerprint v1\ngo\tgo1\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		var m Manifest
		if err := m.UnmarshalText(text); err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Fatalf("error %v does not wrap ErrBadManifest", err)
			}
			return
		}
		again, err := m.MarshalText()
		if err != nil {
			t.Fatalf("accepted %q, cannot encode it: %v", text, err)
		}
		var m2 Manifest
		if err := m2.UnmarshalText(again); err != nil {
			t.Fatalf("re-encoded text refused: %v\n%s", err, again)
		}
		if m2.ID != m.ID || m2.Baseline.Hash() != m.Baseline.Hash() || strings.Join(m2.Slots, ",") != strings.Join(m.Slots, ",") {
			t.Fatalf("meaning changed: %+v vs %+v", m, m2)
		}
	})
}

func TestPatchIDAsLoader(t *testing.T) {
	data := []byte("some patch bytes")
	if got, want := patchID("dir/greet.so", sha256.Sum256(data)), loader.PatchID("dir/greet.so", data); got != want {
		t.Fatalf("patchID = %q, loader.PatchID = %q", got, want)
	}
}

func TestJoinErrorsOneLine(t *testing.T) {
	a, b := errors.New("slot \"x\": unknown"), ErrBadExport
	err := joinErrors(nil, a, nil, b)
	if err.Error() != a.Error()+"; "+b.Error() || !errors.Is(err, ErrBadExport) || !errors.Is(err, a) {
		t.Errorf("joinErrors = %q", err)
	}
	if joinErrors(nil, nil) != nil || joinErrors(a) != a {
		t.Errorf("joinErrors of nothing or one error")
	}
}
