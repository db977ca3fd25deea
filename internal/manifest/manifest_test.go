package manifest

import (
	"bytes"
	"errors"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

func testManifest() Manifest {
	rec, _ := fingerprint.FingerprintOf(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "example.com/app",
		Main:      debug.Module{Path: "example.com/app", Version: "(devel)"},
		Deps:      []*debug.Module{{Path: "golang.org/x/text", Version: "v0.42.0", Sum: "h1:abc="}},
		Settings:  []debug.BuildSetting{{Key: "-race", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}, {Key: "-buildmode", Value: "exe"}},
	})
	return Manifest{
		Kind:      KindNative,
		ID:        "greet_20261127T100000_0a1b2c3d",
		Package:   "example.com/app/.hotpatch/build/greet_20261127T100000_0a1b2c3d",
		Source:    "greet.go",
		SourceSum: "sha256:00ff",
		Slots:     []Slot{{Name: "example.Greet"}, {Name: "example.Add"}},
		Redirects: []string{"example.com/app/billing.Round"},
		Baseline:  rec,
		Sources:   fingerprint.Sources{"example.com/app/billing": "sha256:0011", "example.com/app": "sha256:2233"},
	}
}

func processManifest() Manifest {
	return Manifest{Kind: KindProcess, Package: "patch", Source: "greet.go", Slots: []Slot{
		{Name: "example.Greet", Func: "Greet", Type: "func(name string) string"},
		{Name: "example.Pair", Func: "pair", Type: "func(p struct {\n\tA\tint\n}) error"}, // printed types may span lines
	}}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range []Manifest{testManifest(), processManifest(), {Kind: KindBaseline, Sources: fingerprint.Sources{"a": "sha256:1"}}} {
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
		if got.Kind != m.Kind || got.Baseline.Hash() != m.Baseline.Hash() || got.ID != m.ID || len(got.Slots) != len(m.Slots) ||
			got.Sources.Hash() != m.Sources.Hash() || !slices.IsSortedFunc(got.Slots, func(a, b Slot) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("got %+v, want %+v", got, m)
		}
	}
	enc, err := processManifest().Encode()
	if err != nil || strings.ContainsAny(enc, " '\"\t\n=") {
		t.Fatalf("Encode = %q, %v: it must need no quoting in -ldflags", enc, err)
	}
	if m, err := Decode(enc); err != nil || m.Slots[1].Type != processManifest().Slots[1].Type {
		t.Fatalf("Decode = %+v, %v", m, err)
	}
	if _, err := Decode("not base64!"); !errors.Is(err, ErrBad) {
		t.Errorf("Decode of junk: %v, want ErrBad", err)
	}
}

func TestErrors(t *testing.T) {
	good, _ := testManifest().MarshalText()
	head, fp, _ := strings.Cut(string(good), "\n\n")
	proc, _ := processManifest().MarshalText()
	for name, text := range map[string]string{
		"empty":             "",
		"no blank line":     head,
		"bad header":        strings.Replace(head, "v1", "v9", 1) + "\n\n" + fp,
		"old native format": strings.Replace(strings.Replace(head, "manifest", "native", 1), "kind\tnative\n", "", 1) + "\n\n" + fp,
		"kind not first":    strings.Replace(head, "kind\tnative\n", "", 1) + "\nkind\tnative\n\n" + fp,
		"unknown kind":      strings.Replace(head, "kind\tnative", "kind\tcomet", 1) + "\n\n" + fp,
		"unknown key":       head + "\ncolor\tblue\n\n" + fp,
		"no tab":            head + "\nslot\n\n" + fp,
		"duplicate id":      head + "\nid\tx\n\n" + fp,
		"duplicate slot":    head + "\nslot\texample.Greet\n\n" + fp,
		"duplicate src":     head + "\nsrc\texample.com/app\tsha256:9\n\n" + fp,
		"src no hash":       head + "\nsrc\texample.com/x\n\n" + fp,
		"native slot type":  head + "\nslot\texample.X\tX\tfunc()\n\n" + fp,
		"no slot":           strings.NewReplacer("slot\texample.Add\n", "", "slot\texample.Greet\n", "").Replace(head) + "\n\n" + fp,
		"bad baseline":      head + "\n\nnot a fingerprint\n",
		"id with slash":     strings.Replace(head, "id\tgreet_", "id\t../greet_", 1) + "\n\n" + fp,
		"no package":        strings.Replace(head, "package\texample.com/app/.hotpatch/build/greet_20261127T100000_0a1b2c3d\n", "", 1) + "\n\n" + fp,
		"process no type":   string(proc) + "slot\texample.X\n",
		"process with fp":   string(proc) + "\n" + fp,
		"process with id":   string(proc) + "id\tx\n",
		"bad quote":         string(proc) + "slot\t\"x\tX\tfunc()\n",
		"empty quoted":      string(proc) + "slot\t\"\"\tX\tfunc()\n",
		"baseline slot":     "hotpatch-manifest v1\nkind\tbaseline\nslot\tx\n",
	} {
		var m Manifest
		if err := m.UnmarshalText([]byte(text)); !errors.Is(err, ErrBad) {
			t.Errorf("%s: err = %v, want ErrBad", name, err)
		}
	}
	bad := testManifest()
	bad.Slots = append(bad.Slots, Slot{Name: "example.Greet"})
	if _, err := bad.MarshalText(); !errors.Is(err, ErrBad) {
		t.Errorf("MarshalText with a slot twice: %v", err)
	}
	bad = testManifest()
	bad.Baseline = fingerprint.Record{}
	if _, err := bad.MarshalText(); !errors.Is(err, ErrBad) {
		t.Errorf("MarshalText of a native manifest without a baseline: %v", err)
	}
}

// FuzzManifest checks that parsing never panics and that what it accepts
// encodes back to text it accepts again with the same meaning.
func FuzzManifest(f *testing.F) {
	good, _ := testManifest().MarshalText()
	proc, _ := processManifest().MarshalText()
	f.Add(good)
	f.Add(proc)
	f.Add([]byte(header + "\nkind\tnative\nid\tx\npackage\tp\nslot\ta.B\n\nhotpatch-fingerprint v2\ngo\tgo1\n"))
	f.Add([]byte(header + "\nkind\tbaseline\nsrc\t\"a\\tb\"\tsha256:1\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		var m Manifest
		if err := m.UnmarshalText(text); err != nil {
			if !errors.Is(err, ErrBad) {
				t.Fatalf("error %v does not wrap ErrBad", err)
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
		if m2.Kind != m.Kind || m2.ID != m.ID || m2.Baseline.Hash() != m.Baseline.Hash() || !slices.Equal(m2.Slots, m.Slots) || m2.Sources.Hash() != m.Sources.Hash() {
			t.Fatalf("meaning changed: %+v vs %+v", m, m2)
		}
	})
}
