package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
)

// Record is the fingerprint of a build: what must be identical for code
// compiled separately (a plugin, a patch) to be linked into it.
//
// The compared part is the Go version, the main module, every dependency
// and the build settings in Settings; [Record.Hash] covers exactly that
// part and [Diff] compares it. Path and Info are recorded for people and
// never compared, because they legitimately differ between a host and a
// plugin built for it (see [FingerprintOf] for the argument per setting).
//
// A Record is a value: the slices are owned by it, and the functions of
// this package never modify a Record they are given.
type Record struct {
	GoVersion string               // toolchain, as in [debug.BuildInfo.GoVersion]: "go1.26.8"
	Path      string               // main package path; not compared
	Main      debug.Module         // main module; Replace is always nil
	Deps      []debug.Module       // sorted by Path; Replace set where replaced, and then Sum empty
	Settings  []debug.BuildSetting // code-affecting settings, sorted by Key
	Info      []debug.BuildSetting // recorded, not compared, sorted by Key
}

// informational lists the build settings that are recorded in Info and
// left out of the comparison, each for a reason that holds for a host and
// a plugin or patch built against it:
//
//   - -buildmode: a plugin is built with -buildmode=plugin, its host with exe
//     or pie; comparing it would refuse every plugin.
//   - -ldflags: link-time only. -X changes the initial value of string
//     variables (data, not code); -s and -w drop symbol and debug tables;
//     -pluginpath is how each patch build gets its unique plugin path. None
//     of them changes the compiled code of a package the two share.
//   - CGO_LDFLAGS: link-time only, like -ldflags.
//   - DefaultGODEBUG: derived from the main package's go.mod and //go:debug
//     lines; it sets runtime defaults for the process, not the code of
//     shared packages, and a plugin's own value is never used.
//   - vcs, vcs.time: which tool and when; vcs.revision and vcs.modified,
//     which say what, are compared.
var informational = map[string]bool{
	"-buildmode":     true,
	"-ldflags":       true,
	"CGO_LDFLAGS":    true,
	"DefaultGODEBUG": true,
	"vcs":            true,
	"vcs.time":       true,
}

// Fingerprint returns the fingerprint of the running binary, read from the
// build information the Go linker embeds (see [debug.ReadBuildInfo]).
func Fingerprint() (Record, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Record{}, ErrNoBuildInfo
	}
	return FingerprintOf(info)
}

// FingerprintOf returns the fingerprint recorded in info. A tool fingerprints
// another binary, executable or plugin, with [debug/buildinfo.ReadFile]:
//
//	info, err := buildinfo.ReadFile(path)
//	...
//	rec, err := fingerprint.FingerprintOf(info)
//
// Every build setting the go command records is compared except the few in
// Record.Info: -buildmode, -ldflags and CGO_LDFLAGS (link-time: -X rewrites
// data, not code, and a plugin's mode and plugin path differ from its
// host's by design), DefaultGODEBUG (a process default, not code) and vcs,
// vcs.time (metadata; vcs.revision and vcs.modified are compared). Settings
// unknown today are compared, so a future code-affecting flag is not missed.
//
// Build information the text form cannot hold is refused with
// [ErrBadFingerprint]: no Go version, a newline in it or in the path, a
// tab or newline in a module's path, version or sum, a dependency or a
// setting without a name. The go command writes none of these. The sum of
// a replaced module is dropped (the go command records none; the
// replacement's counts).
func FingerprintOf(info *debug.BuildInfo) (Record, error) {
	if info == nil {
		return Record{}, ErrNoBuildInfo
	}
	r := Record{
		GoVersion: info.GoVersion,
		Path:      info.Path,
		Main:      debug.Module{Path: info.Main.Path, Version: info.Main.Version, Sum: info.Main.Sum},
	}
	for _, d := range info.Deps {
		if d == nil {
			continue
		}
		r.Deps = append(r.Deps, copyModule(*d))
	}
	for _, s := range info.Settings {
		if informational[s.Key] {
			r.Info = append(r.Info, s)
		} else {
			r.Settings = append(r.Settings, s)
		}
	}
	r.normalize()
	if err := r.check(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func copyModule(m debug.Module) debug.Module {
	c := debug.Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		c.Replace = &debug.Module{Path: m.Replace.Path, Version: m.Replace.Version, Sum: m.Replace.Sum}
	}
	return c
}

// normalize sorts the slices so that equal builds give equal text, and
// drops the sum of a replaced module: the go command records none, and
// the text form (debug.BuildInfo.String's) has no place for it.
func (r *Record) normalize() {
	for i := range r.Deps {
		if r.Deps[i].Replace != nil {
			r.Deps[i].Sum = ""
		}
	}
	slices.SortStableFunc(r.Deps, func(a, b debug.Module) int { return strings.Compare(a.Path, b.Path) })
	byKey := func(a, b debug.BuildSetting) int { return strings.Compare(a.Key, b.Key) }
	slices.SortStableFunc(r.Settings, byKey)
	slices.SortStableFunc(r.Info, byKey)
}

// Setting returns the value of the build setting key, compared or not, and
// whether it is recorded.
func (r Record) Setting(key string) (string, bool) {
	for _, list := range [][]debug.BuildSetting{r.Settings, r.Info} {
		for _, s := range list {
			if s.Key == key {
				return s.Value, true
			}
		}
	}
	return "", false
}

// Hash returns the hex SHA-256 of the compared part of r in its canonical
// text form. Two records have the same hash exactly when [Diff] finds
// nothing between them.
func (r Record) Hash() string {
	sum := sha256.Sum256(r.encode(false))
	return hex.EncodeToString(sum[:])
}

// String returns the text form of r, as [Record.MarshalText].
func (r Record) String() string { return string(r.encode(true)) }

// MarshalText encodes r as text: a header line, then r as
// [debug.BuildInfo.String] writes build information (the form `go version
// -m` prints), with the modules sorted by path and every build setting,
// compared or not, sorted by key:
//
//	hotpatch-fingerprint v2
//	go	go1.26.8
//	path	example.com/server
//	mod	example.com	(devel)
//	dep	golang.org/x/text	v0.42.0	h1:...
//	build	-ldflags="-X main.version=1.0"
//	build	GOOS=linux
//
// Which settings are compared is not written: [FingerprintOf] decides it
// again when the text is read. The text is stable: it is what patches
// embed, and [Record.Hash] hashes the same form without the path line and
// the settings that are not compared. A module field that holds a tab or
// a newline cannot be written in this form and is refused.
func (r Record) MarshalText() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.encode(true), nil
}

// UnmarshalText parses the text form written by [Record.MarshalText]. It is
// strict: a missing header, a line that is not in the form MarshalText
// writes (unknown, unsorted, quoted differently), a duplicate module or
// setting is an error wrapping [ErrBadFingerprint].
func (r *Record) UnmarshalText(text []byte) error {
	rec, err := parseRecord(string(text))
	if err != nil {
		return err
	}
	*r = rec
	return nil
}

// header names the format. debug.BuildInfo's text has none, and a
// fingerprint must not be mistaken for any text that happens to parse:
// [debug.ParseBuildInfo] skips lines it does not know. v1 was a format of
// this package's own, tab-separated with quoted fields; v2 is the standard
// library's.
const header = "hotpatch-fingerprint v2"

// buildInfo returns r as build information: all of it (full), or only the
// part that is compared.
func (r Record) buildInfo(full bool) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: r.GoVersion, Main: r.Main}
	if full {
		bi.Path = r.Path
	}
	for i := range r.Deps {
		d := copyModule(r.Deps[i])
		bi.Deps = append(bi.Deps, &d)
	}
	bi.Settings = slices.Clone(r.Settings)
	if full {
		bi.Settings = append(bi.Settings, r.Info...)
	}
	slices.SortStableFunc(bi.Settings, func(a, b debug.BuildSetting) int { return strings.Compare(a.Key, b.Key) })
	return bi
}

// encode writes what debug.BuildInfo.String writes, after a header and
// with the lists sorted, so that equal builds give equal text.
func (r Record) encode(full bool) []byte {
	r.Deps = slices.Clone(r.Deps)
	r.Settings = slices.Clone(r.Settings)
	r.Info = slices.Clone(r.Info)
	r.normalize()
	return []byte(header + "\n" + r.buildInfo(full).String())
}

// check refuses what debug.BuildInfo.String would write ambiguously: it
// quotes build settings but writes module fields, the Go version and the
// path as they are.
func (r Record) check() error {
	if r.GoVersion == "" || strings.ContainsAny(r.GoVersion, "\n") || strings.ContainsAny(r.Path, "\n") {
		return fmt.Errorf("%w: Go version %q or path %q is empty or holds a newline", ErrBadFingerprint, r.GoVersion, r.Path)
	}
	mods := []debug.Module{r.Main}
	for _, d := range r.Deps {
		if d.Path == "" {
			return fmt.Errorf("%w: a dependency without a path", ErrBadFingerprint)
		}
		mods = append(mods, d)
		if d.Replace != nil {
			mods = append(mods, *d.Replace)
		}
	}
	for _, m := range mods {
		if strings.ContainsAny(m.Path+m.Version+m.Sum, "\t\n") {
			return fmt.Errorf("%w: module %q %q %q holds a tab or newline", ErrBadFingerprint, m.Path, m.Version, m.Sum)
		}
	}
	for _, s := range slices.Concat(r.Settings, r.Info) {
		if s.Key == "" {
			return fmt.Errorf("%w: a build setting without a key", ErrBadFingerprint)
		}
	}
	return nil
}

// parseRecord reads text with [debug.ParseBuildInfo] and keeps what it
// lacks: the header, the go line (which it does not read), and
// strictness. It skips lines it does not know and a last line without a
// newline, so the text is encoded again and must come out the same.
func parseRecord(text string) (Record, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadFingerprint, fmt.Sprintf(format, args...))
	}
	first, rest, _ := strings.Cut(text, "\n")
	if first != header {
		return Record{}, bad("line 1: want header %q", header)
	}
	goLine, _, _ := strings.Cut(rest, "\n")
	goVersion, ok := strings.CutPrefix(goLine, "go\t")
	if !ok {
		return Record{}, bad("line 2: want the go line")
	}
	bi, err := debug.ParseBuildInfo(rest)
	if err != nil {
		return Record{}, bad("%v", err)
	}
	bi.GoVersion = goVersion
	r, err := FingerprintOf(bi)
	if err != nil {
		return Record{}, err
	}
	for i := 1; i < len(r.Deps); i++ {
		if r.Deps[i].Path == r.Deps[i-1].Path {
			return Record{}, bad("duplicate dep %s", r.Deps[i].Path)
		}
	}
	all := slices.Concat(r.Settings, r.Info)
	slices.SortFunc(all, func(a, b debug.BuildSetting) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(all); i++ {
		if all[i].Key == all[i-1].Key {
			return Record{}, bad("duplicate setting %s", all[i].Key)
		}
	}
	if canon := r.String(); canon != text {
		got, want := strings.Split(text, "\n"), strings.Split(canon, "\n")
		for i := range got {
			if i >= len(want) || got[i] != want[i] {
				w := "nothing"
				if i < len(want) {
					w = fmt.Sprintf("%q", want[i])
				}
				return Record{}, bad("line %d: %q is not in the form written (want %s)", i+1, got[i], w)
			}
		}
		return Record{}, bad("line %d: the text ends early", len(got))
	}
	return r, nil
}
