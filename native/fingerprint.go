package native

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
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
	Deps      []debug.Module       // sorted by Path; Replace set where replaced
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
//	rec, err := native.FingerprintOf(info)
//
// Every build setting the go command records is compared except the few in
// Record.Info: -buildmode, -ldflags and CGO_LDFLAGS (link-time: -X rewrites
// data, not code, and a plugin's mode and plugin path differ from its
// host's by design), DefaultGODEBUG (a process default, not code) and vcs,
// vcs.time (metadata; vcs.revision and vcs.modified are compared). Settings
// unknown today are compared, so a future code-affecting flag is not missed.
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
	return r, nil
}

func copyModule(m debug.Module) debug.Module {
	c := debug.Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		c.Replace = &debug.Module{Path: m.Replace.Path, Version: m.Replace.Version, Sum: m.Replace.Sum}
	}
	return c
}

// normalize sorts the slices so that equal builds give equal text.
func (r *Record) normalize() {
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

// MarshalText encodes r as text: a header line, then one line per fact,
// tab-separated fields, quoted with [strconv.Quote] where a field is empty
// or holds tabs, newlines, quotes or other non-printing characters:
//
//	hotpatch-fingerprint v1
//	go	go1.26.8
//	path	example.com/server
//	mod	example.com	(devel)	""
//	dep	golang.org/x/text	v0.42.0	h1:...
//	=>	../text	""	""
//	build	-race	true
//	info	-buildmode	exe
//
// A "=>" line gives the replacement of the dep line above it; "build" lines
// are compared, "info" lines are not. The text is stable: it is what
// [Record.Hash] hashes (without the path and info lines), and it is what
// patches and bundle manifests embed.
func (r Record) MarshalText() ([]byte, error) { return r.encode(true), nil }

// UnmarshalText parses the text form written by [Record.MarshalText]. It is
// strict: an unknown line, a missing header or a malformed field is an
// error wrapping [ErrBadFingerprint].
func (r *Record) UnmarshalText(text []byte) error {
	rec, err := parseRecord(text)
	if err != nil {
		return err
	}
	*r = rec
	return nil
}

const header = "hotpatch-fingerprint v1"

func (r Record) encode(full bool) []byte {
	r.Deps = slices.Clone(r.Deps)
	r.Settings = slices.Clone(r.Settings)
	r.Info = slices.Clone(r.Info)
	r.normalize()

	var b bytes.Buffer
	line := func(fields ...string) {
		for i, f := range fields {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(quoteField(f))
		}
		b.WriteByte('\n')
	}
	b.WriteString(header + "\n")
	line("go", r.GoVersion)
	if full {
		line("path", r.Path)
	}
	line("mod", r.Main.Path, r.Main.Version, r.Main.Sum)
	for _, d := range r.Deps {
		line("dep", d.Path, d.Version, d.Sum)
		if d.Replace != nil {
			line("=>", d.Replace.Path, d.Replace.Version, d.Replace.Sum)
		}
	}
	for _, s := range r.Settings {
		line("build", s.Key, s.Value)
	}
	if full {
		for _, s := range r.Info {
			line("info", s.Key, s.Value)
		}
	}
	return b.Bytes()
}

// quoteField quotes f when writing it raw would be ambiguous.
func quoteField(f string) string {
	if f == "" || strings.HasPrefix(f, `"`) {
		return strconv.Quote(f)
	}
	for _, c := range f {
		if c == '\t' || c == '\\' || !strconv.IsPrint(c) {
			return strconv.Quote(f)
		}
	}
	return f
}

func parseRecord(text []byte) (Record, error) {
	var r Record
	bad := func(n int, format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrBadFingerprint, n, fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	n := 0
	seen := map[string]bool{}
	for sc.Scan() {
		n++
		raw := sc.Text()
		if n == 1 {
			if raw != header {
				return Record{}, bad(n, "want header %q", header)
			}
			continue
		}
		if raw == "" {
			continue
		}
		fields := strings.Split(raw, "\t")
		for i, f := range fields {
			if strings.HasPrefix(f, `"`) {
				u, err := strconv.Unquote(f)
				if err != nil {
					return Record{}, bad(n, "field %d: %v", i+1, err)
				}
				fields[i] = u
			}
		}
		kind, args := fields[0], fields[1:]
		want := map[string]int{"go": 1, "path": 1, "mod": 3, "dep": 3, "=>": 3, "build": 2, "info": 2}[kind]
		if want == 0 {
			return Record{}, bad(n, "unknown line kind %q", kind)
		}
		if len(args) != want {
			return Record{}, bad(n, "%s: want %d fields, have %d", kind, want, len(args))
		}
		if (kind == "go" || kind == "path" || kind == "mod") && seen[kind] {
			return Record{}, bad(n, "duplicate %s line", kind)
		}
		seen[kind] = true
		switch kind {
		case "go":
			r.GoVersion = args[0]
		case "path":
			r.Path = args[0]
		case "mod":
			r.Main = debug.Module{Path: args[0], Version: args[1], Sum: args[2]}
		case "dep":
			if args[0] == "" {
				return Record{}, bad(n, "dep without a path")
			}
			r.Deps = append(r.Deps, debug.Module{Path: args[0], Version: args[1], Sum: args[2]})
		case "=>":
			if len(r.Deps) == 0 || r.Deps[len(r.Deps)-1].Replace != nil {
				return Record{}, bad(n, "replacement without a dep line")
			}
			r.Deps[len(r.Deps)-1].Replace = &debug.Module{Path: args[0], Version: args[1], Sum: args[2]}
		case "build", "info":
			if args[0] == "" {
				return Record{}, bad(n, "%s without a key", kind)
			}
			s := debug.BuildSetting{Key: args[0], Value: args[1]}
			if kind == "build" {
				r.Settings = append(r.Settings, s)
			} else {
				r.Info = append(r.Info, s)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrBadFingerprint, err)
	}
	if n == 0 {
		return Record{}, fmt.Errorf("%w: empty", ErrBadFingerprint)
	}
	if !seen["go"] {
		return Record{}, fmt.Errorf("%w: no go line", ErrBadFingerprint)
	}
	r.normalize()
	for i := 1; i < len(r.Deps); i++ {
		if r.Deps[i].Path == r.Deps[i-1].Path {
			return Record{}, fmt.Errorf("%w: duplicate dep %s", ErrBadFingerprint, r.Deps[i].Path)
		}
	}
	for _, list := range [][]debug.BuildSetting{r.Settings, r.Info} {
		for i := 1; i < len(list); i++ {
			if list[i].Key == list[i-1].Key {
				return Record{}, fmt.Errorf("%w: duplicate setting %s", ErrBadFingerprint, list[i].Key)
			}
		}
	}
	return r, nil
}
