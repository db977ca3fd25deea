package fingerprint

import (
	"debug/buildinfo"
	"errors"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func sampleInfo() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "example.com/server/cmd/server",
		Main:      debug.Module{Path: "example.com/server", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/text", Version: "v0.42.0", Sum: "h1:text42"},
			{Path: "golang.org/x/sys", Version: "v0.50.0", Sum: "h1:sys50"},
			{Path: "example.com/fork", Version: "v1.0.0", Replace: &debug.Module{Path: "../fork"}},
		},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "-compiler", Value: "gc"},
			{Key: "-gcflags", Value: "all=-N -l"},
			{Key: "-ldflags", Value: "-X main.version=1.2.3"},
			{Key: "-race", Value: "true"},
			{Key: "-tags", Value: "netgo,osusergo"},
			{Key: "CGO_ENABLED", Value: "1"},
			{Key: "CGO_LDFLAGS", Value: ""},
			{Key: "DefaultGODEBUG", Value: "panicnil=1"},
			{Key: "GOAMD64", Value: "v3"},
			{Key: "GOARCH", Value: "amd64"},
			{Key: "GOOS", Value: "linux"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.modified", Value: "false"},
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-27T00:00:00Z"},
		},
	}
}

func mustRecord(t *testing.T, info *debug.BuildInfo) Record {
	t.Helper()
	r, err := FingerprintOf(info)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFingerprintOfClassifiesSettings(t *testing.T) {
	r := mustRecord(t, sampleInfo())
	var compared, info []string
	for _, s := range r.Settings {
		compared = append(compared, s.Key)
	}
	for _, s := range r.Info {
		info = append(info, s.Key)
	}
	wantCompared := []string{"-compiler", "-gcflags", "-race", "-tags", "CGO_ENABLED", "GOAMD64", "GOARCH", "GOOS", "vcs.modified", "vcs.revision"}
	wantInfo := []string{"-buildmode", "-ldflags", "CGO_LDFLAGS", "DefaultGODEBUG", "vcs", "vcs.time"}
	if !slices.Equal(compared, wantCompared) {
		t.Errorf("compared settings = %q, want %q", compared, wantCompared)
	}
	if !slices.Equal(info, wantInfo) {
		t.Errorf("informational settings = %q, want %q", info, wantInfo)
	}
	if r.Deps[0].Path != "example.com/fork" || r.Deps[0].Replace == nil || r.Deps[0].Replace.Path != "../fork" {
		t.Errorf("deps not sorted or replacement lost: %+v", r.Deps)
	}
	if v, ok := r.Setting("-ldflags"); !ok || v != "-X main.version=1.2.3" {
		t.Errorf("Setting(-ldflags) = %q, %v", v, ok)
	}
}

func TestFingerprintOfDoesNotAlias(t *testing.T) {
	info := sampleInfo()
	r := mustRecord(t, info)
	info.Deps[2].Replace.Path = "changed"
	info.Deps[0].Version = "changed"
	for _, d := range r.Deps {
		if d.Version == "changed" || (d.Replace != nil && d.Replace.Path == "changed") {
			t.Fatalf("record aliases the BuildInfo: %+v", d)
		}
	}
}

func TestFingerprintRunningBinary(t *testing.T) {
	r, err := Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if r.GoVersion == "" || r.Main.Path == "" {
		t.Fatalf("empty fingerprint: %s", r)
	}
	if v, _ := r.Setting("-race"); (v == "true") != raceEnabled {
		t.Errorf("-race setting %q, race detector enabled %v", v, raceEnabled)
	}
	if len(r.Hash()) != 64 {
		t.Errorf("Hash() = %q, want 64 hex digits", r.Hash())
	}
	if _, err := FingerprintOf(nil); !errors.Is(err, ErrNoBuildInfo) {
		t.Errorf("FingerprintOf(nil) = %v, want ErrNoBuildInfo", err)
	}
}

// A tool fingerprints another binary from its file; for the running test
// binary, that must match what it says of itself.
func TestFingerprintOfFile(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := mustRecord(t, info)
	self, err := Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if fromFile.Hash() != self.Hash() {
		t.Errorf("file and running fingerprints differ: %v", Diff(fromFile, self))
	}
}

func TestHashCoversComparedPartOnly(t *testing.T) {
	base := mustRecord(t, sampleInfo())
	tests := []struct {
		name   string
		change func(*debug.BuildInfo)
		same   bool
	}{
		{"path", func(i *debug.BuildInfo) { i.Path = "example.com/other" }, true},
		{"buildmode", func(i *debug.BuildInfo) { i.Settings[0].Value = "plugin" }, true},
		{"ldflags", func(i *debug.BuildInfo) { i.Settings[3].Value = "-X main.version=9" }, true},
		{"vcs.time", func(i *debug.BuildInfo) { i.Settings[15].Value = "2027-01-01T00:00:00Z" }, true},
		{"settings order", func(i *debug.BuildInfo) { slices.Reverse(i.Settings) }, true},
		{"deps order", func(i *debug.BuildInfo) { slices.Reverse(i.Deps) }, true},
		{"go version", func(i *debug.BuildInfo) { i.GoVersion = "go1.26.7" }, false},
		{"dep version", func(i *debug.BuildInfo) { i.Deps[0].Version = "v0.41.0" }, false},
		{"dep sum", func(i *debug.BuildInfo) { i.Deps[0].Sum = "h1:other" }, false},
		{"replacement", func(i *debug.BuildInfo) { i.Deps[2].Replace.Path = "../fork2" }, false},
		{"race", func(i *debug.BuildInfo) { i.Settings[4].Value = "false" }, false},
		{"revision", func(i *debug.BuildInfo) { i.Settings[14].Value = "fedc" }, false},
		{"GOAMD64", func(i *debug.BuildInfo) { i.Settings[9].Value = "v1" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := sampleInfo()
			tt.change(info)
			r := mustRecord(t, info)
			if same := r.Hash() == base.Hash(); same != tt.same {
				t.Errorf("hash equal = %v, want %v", same, tt.same)
			}
			if empty := len(Diff(r, base)) == 0; empty != tt.same {
				t.Errorf("Diff empty = %v, want %v: %v", empty, tt.same, Diff(r, base))
			}
		})
	}
}

func TestTextRoundTrip(t *testing.T) {
	info := sampleInfo()
	info.Settings = append(info.Settings, debug.BuildSetting{Key: "-asmflags", Value: "tab\there \"q\" \\ \n"})
	r := mustRecord(t, info)
	text, err := r.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := back.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText: %v\n%s", err, text)
	}
	if back.String() != string(text) {
		t.Errorf("round trip changed the text:\n%s\nvs\n%s", back, text)
	}
	if back.Hash() != r.Hash() {
		t.Error("round trip changed the hash")
	}
	if back.Path != r.Path || len(back.Info) != len(r.Info) {
		t.Error("round trip lost the informational part")
	}
}

func TestUnmarshalTextRejects(t *testing.T) {
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"no header", "go\tgo1.26.8\n"},
		{"old header", "hotpatch-fingerprint v1\ngo\tgo1.26.8\n"},
		{"no go line", header + "\nmod\tm\tv1\t\"\"\n"},
		{"unknown kind", header + "\ngo\tgo1\nfoo\tbar\n"},
		{"field count", header + "\ngo\tgo1\ndep\tx\tv1\n"},
		{"bad quote", header + "\ngo\tgo1\nbuild\t-race=\"true\n"},
		{"unquoted value", header + "\ngo\tgo1\nbuild\t-gcflags=-N -l\n"},
		{"unsorted deps", header + "\ngo\tgo1\ndep\ty\tv1\t\ndep\tx\tv1\t\n"},
		{"no final newline", header + "\ngo\tgo1\nbuild\t-race=true"},
		{"old info line", header + "\ngo\tgo1\ninfo\t-buildmode\texe\n"},
		{"main replaced", header + "\ngo\tgo1\nmod\tm\tv1\n=>\t../m\t\t\n"},
		{"orphan replacement", header + "\ngo\tgo1\n=>\t../x\t\"\"\t\"\"\n"},
		{"double replacement", header + "\ngo\tgo1\ndep\tx\tv1\ts\n=>\ta\t\"\"\t\"\"\n=>\tb\t\"\"\t\"\"\n"},
		{"duplicate dep", header + "\ngo\tgo1\ndep\tx\tv1\ts\ndep\tx\tv2\ts\n"},
		{"duplicate setting", header + "\ngo\tgo1\nbuild\t-race\ttrue\nbuild\t-race\tfalse\n"},
		{"duplicate go", header + "\ngo\tgo1\ngo\tgo2\n"},
		{"empty key", header + "\ngo\tgo1\nbuild\t\"\"\tx\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := r.UnmarshalText([]byte(tt.text)); !errors.Is(err, ErrBadFingerprint) {
				t.Errorf("UnmarshalText = %v, want ErrBadFingerprint", err)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	base := sampleInfo()
	tests := []struct {
		name   string
		change func(*debug.BuildInfo)
		want   []string // Describe("patch", "running")
	}{
		{"identical", func(*debug.BuildInfo) {}, nil},
		{"dependency version", func(i *debug.BuildInfo) { i.Deps[0].Version = "v0.41.0" },
			[]string{"dependency golang.org/x/text: v0.41.0 (patch) vs v0.42.0 (running)"}},
		{"dependency sum only", func(i *debug.BuildInfo) { i.Deps[0].Sum = "h1:evil" },
			[]string{"dependency golang.org/x/text: v0.42.0 h1:evil (patch) vs v0.42.0 h1:text42 (running)"}},
		{"dependency added", func(i *debug.BuildInfo) {
			i.Deps = append(i.Deps, &debug.Module{Path: "example.com/new", Version: "v1.1.0"})
		}, []string{"dependency example.com/new: v1.1.0 (patch) vs (none) (running)"}},
		{"dependency removed", func(i *debug.BuildInfo) { i.Deps = i.Deps[1:] },
			[]string{"dependency golang.org/x/text: (none) (patch) vs v0.42.0 (running)"}},
		{"replacement", func(i *debug.BuildInfo) {
			i.Deps[2].Replace = &debug.Module{Path: "example.com/fork2", Version: "v1.0.1"}
		},
			[]string{"dependency example.com/fork: v1.0.0 => example.com/fork2 v1.0.1 (patch) vs v1.0.0 => ../fork (running)"}},
		{"race", func(i *debug.BuildInfo) { i.Settings[4].Value = "false" },
			[]string{"build setting -race: false (patch) vs true (running)"}},
		{"setting removed", func(i *debug.BuildInfo) { i.Settings = slices.Delete(i.Settings, 2, 3) },
			[]string{"build setting -gcflags: (none) (patch) vs all=-N -l (running)"}},
		{"go and main", func(i *debug.BuildInfo) {
			i.GoVersion = "go1.26.7"
			i.Main.Version = "v1.0.0"
		}, []string{
			"go version: go1.26.7 (patch) vs go1.26.8 (running)",
			"main module example.com/server: v1.0.0 (patch) vs (devel) (running)",
		}},
		{"main path", func(i *debug.BuildInfo) { i.Main.Path = "example.com/patch" },
			[]string{"main module: example.com/patch (patch) vs example.com/server (running)"}},
		{"ignored: buildmode, ldflags, path", func(i *debug.BuildInfo) {
			i.Settings[0].Value = "plugin"
			i.Settings[3].Value = "-pluginpath=p1"
			i.Path = "example.com/patch/p1"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := sampleInfo()
			tt.change(info)
			var got []string
			for _, d := range Diff(mustRecord(t, info), mustRecord(t, base)) {
				got = append(got, d.Describe("patch", "running"))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Diff:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDifferenceString(t *testing.T) {
	d := Difference{What: "build setting -race", A: "true"}
	if got, want := d.String(), "build setting -race: true vs (none)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func FuzzUnmarshalText(f *testing.F) {
	info := sampleInfo()
	r, _ := FingerprintOf(info)
	f.Add(r.String())
	f.Add(header + "\ngo\tgo1\n")
	f.Add(header + "\ngo\t\"a\\tb\"\ndep\tx\t\"\"\t\"\"\n=>\ty\t\"\"\t\"\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		var r Record
		if err := r.UnmarshalText([]byte(text)); err != nil {
			if !errors.Is(err, ErrBadFingerprint) {
				t.Fatalf("error %v does not wrap ErrBadFingerprint", err)
			}
			return
		}
		out := r.String()
		var back Record
		if err := back.UnmarshalText([]byte(out)); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if back.String() != out || back.Hash() != r.Hash() {
			t.Fatalf("not stable:\n%q\n%q", out, back.String())
		}
		if strings.Count(out, "\n") < 2 {
			t.Fatalf("too short: %q", out)
		}
	})
}

// TestFingerprintOfRefusesWhatTextCannotHold: the text form is
// debug.BuildInfo.String's, which writes module fields as they are, so
// build information whose fields would make it ambiguous is refused, and
// a replaced module's own sum, which it has no place for, is dropped.
func TestFingerprintOfRefusesWhatTextCannotHold(t *testing.T) {
	for name, change := range map[string]func(*debug.BuildInfo){
		"no go version":      func(i *debug.BuildInfo) { i.GoVersion = "" },
		"newline in go":      func(i *debug.BuildInfo) { i.GoVersion = "go1\nbuild\t-race=false" },
		"newline in path":    func(i *debug.BuildInfo) { i.Path = "a\nb" },
		"tab in dep path":    func(i *debug.BuildInfo) { i.Deps[0].Path = "golang.org/x/text\tv9" },
		"newline in version": func(i *debug.BuildInfo) { i.Deps[0].Version = "v1\ndep\tx\tv1\t" },
		"tab in main sum":    func(i *debug.BuildInfo) { i.Main.Sum = "h1:\t" },
		"tab in replacement": func(i *debug.BuildInfo) { i.Deps[2].Replace.Path = "../a\tb" },
		"dep without path":   func(i *debug.BuildInfo) { i.Deps[0].Path = "" },
		"setting no key":     func(i *debug.BuildInfo) { i.Settings[0].Key = "" },
	} {
		info := sampleInfo()
		change(info)
		if _, err := FingerprintOf(info); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("%s: err = %v, want ErrBadFingerprint", name, err)
		}
	}
	info := sampleInfo()
	info.Deps[2].Sum = "h1:ignored"
	r := mustRecord(t, info)
	if r.Deps[0].Path != "example.com/fork" || r.Deps[0].Sum != "" {
		t.Errorf("replaced dep = %+v, want its sum dropped", r.Deps[0])
	}
	if r.Hash() != mustRecord(t, sampleInfo()).Hash() || len(Diff(r, mustRecord(t, sampleInfo()))) != 0 {
		t.Error("a replaced module's own sum changed the hash or the diff")
	}
	// A build setting value with anything in it is quoted, and survives.
	info = sampleInfo()
	info.Settings[2].Value = "all=-N -l \"x\"\n\t`"
	r = mustRecord(t, info)
	var back Record
	if err := back.UnmarshalText([]byte(r.String())); err != nil || back.Hash() != r.Hash() {
		t.Errorf("round trip of a quoted setting: %v", err)
	}
}
