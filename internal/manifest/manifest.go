// Package manifest is the one format in which hotpatch's build side tells
// its runtime side what it built, for every kind of artefact:
//
//   - a native patch (.so) carries its [Manifest] in the ELF section
//     [Section], written by `hotpatch patch build` and read by loader/native
//     before the plugin is opened;
//   - a process patch (.proc) carries it in the string variable [ProcessVar],
//     set with -ldflags=-X ([Manifest.Encode]), and reports it at handshake;
//   - a baseline built by `hotpatch build` carries one of kind "baseline",
//     holding only its source record, appended after its ELF contents
//     ([WriteSources], [ReadSources]).
//
// The text form, written by [Manifest.MarshalText], is a header line, one
// "key<TAB>value..." line per fact, and, for a native patch, a blank line
// and the fingerprint of the baseline it was built against in its own text
// form ([fingerprint.Record.MarshalText]):
//
//	hotpatch-manifest v1
//	kind	native
//	id	p_1
//	package	example.com/app/.hotpatch/build/p_1
//	source	greet.go
//	sum	sha256:...
//	slot	example.Greet
//	redirect	example.com/app/billing.Round
//	src	example.com/app/greet	sha256:...
//
//	hotpatch-fingerprint v2
//	go	go1.26.8
//	...
//
// A field that is empty, starts with a double quote or holds a tab, a
// newline or another character that does not print is written quoted
// ([strconv.Quote]); a func type as written in the source may span lines.
// The reader is strict: anything it does not expect is an error wrapping
// [ErrBad], with its line.
//
// Both sides import this package; it imports only the fingerprint package
// and internal/patchfile, so the build commands link no runtime loader.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hotpatch-go/hotpatch/fingerprint"
)

// The kinds of artefact a manifest describes.
const (
	KindNative   = "native"   // a Go plugin built against a baseline
	KindProcess  = "process"  // an executable that serves slots over the call channel
	KindBaseline = "baseline" // a binary built by `hotpatch build`: its source record only
)

// Where each kind of artefact keeps its manifest, and the names the build
// and the loaders agree on.
const (
	// NativeExt is the file name extension of native patches.
	NativeExt = ".so"

	// ProcessExt is the file name extension of process patches.
	ProcessExt = ".proc"

	// Section is the ELF section of a native patch that holds its manifest
	// as text. It is allocated read-only data written by a C declaration in
	// the generated file, so it survives `-ldflags=-s -w`, and the loader
	// reads it with debug/elf without mapping the file.
	Section = ".hotpatch"

	// SymbolSlots names the variable a native patch exports to map slot
	// names to implementations: var HotpatchSlots = map[string]any{...}.
	SymbolSlots = "HotpatchSlots"

	// SymbolBaseline names the string variable a native patch exports that
	// holds the baseline fingerprint text again, for a check after opening.
	SymbolBaseline = "HotpatchBaseline"

	// SymbolRedirects names the optional variable a native patch exports to
	// list functions of the host to redirect, each as {target, replacement}.
	SymbolRedirects = "HotpatchRedirects"

	// SymbolWrap names the func a native patch exports to hand out its
	// implementations and redirect replacements, each inside a typed
	// wrapper that reports a panic through the funcs it is given before
	// the panic goes on with its value:
	// func HotpatchWrap(slot, redirect func(name string, v any)) (slots, redirects map[string]any).
	SymbolWrap = "HotpatchWrap"

	// ProcessVar is the string variable a process patch's build sets with
	// -ldflags=-X to its encoded manifest ([Manifest.Encode]).
	ProcessVar = "github.com/hotpatch-go/hotpatch/loader/process/procplugin.buildManifest"
)

// Errors of this package.
var (
	// ErrBad is returned when a manifest cannot be parsed or written.
	ErrBad = errors.New("manifest: malformed manifest")

	// ErrNoSources is returned by [ReadSources] for a binary that carries
	// no source record: it was not built with `hotpatch build` (or the
	// record was stripped from the file afterwards).
	ErrNoSources = errors.New("manifest: binary carries no source record (not built with `hotpatch build`)")
)

// Manifest is what a built artefact says about itself. Which fields a kind
// uses is said per field; [Manifest.MarshalText] and
// [Manifest.UnmarshalText] check it.
type Manifest struct {
	Kind      string   // KindNative, KindProcess or KindBaseline
	ID        string   // native: unique per build, the last element of the plugin path
	Package   string   // native: the plugin path; process: the patch source's package name
	Source    string   // patches: the base name of the patch source file
	SourceSum string   // native: "sha256:" and the hex digest of the patch source
	Slots     []Slot   // patches: the slots served, sorted by name
	Redirects []string // native: host functions it redirects, sorted; may be empty

	// Sources is a source record (see [fingerprint.Sources]): for a native
	// patch, of the packages it links as the tree it was built from held
	// them; for a baseline, of its own packages.
	Sources fingerprint.Sources

	// Baseline is, for a native patch, the fingerprint of the baseline it
	// was built against.
	Baseline fingerprint.Record
}

// Slot is one slot a patch serves.
type Slot struct {
	Name string // the slot, from //hotpatch:slot
	Func string // process: the Go func that serves it
	Type string // process: its type as written in the source
}

// SlotNames returns the names of m's slots, in m's order.
func (m Manifest) SlotNames() []string {
	out := make([]string, len(m.Slots))
	for i, s := range m.Slots {
		out[i] = s.Name
	}
	return out
}

const header = "hotpatch-manifest v1"

// MarshalText encodes m in the form described in the package comment.
func (m Manifest) MarshalText() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	m.sort()
	var b bytes.Buffer
	line := func(fields ...string) {
		for i, f := range fields {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(quote(f))
		}
		b.WriteByte('\n')
	}
	b.WriteString(header + "\n")
	line("kind", m.Kind)
	for _, kv := range [][2]string{{"id", m.ID}, {"package", m.Package}, {"source", m.Source}, {"sum", m.SourceSum}} {
		if kv[1] != "" {
			line(kv[0], kv[1])
		}
	}
	for _, s := range m.Slots {
		if m.Kind == KindProcess {
			line("slot", s.Name, s.Func, s.Type)
		} else {
			line("slot", s.Name)
		}
	}
	for _, r := range m.Redirects {
		line("redirect", r)
	}
	for _, p := range slices.Sorted(maps.Keys(m.Sources)) {
		line("src", p, m.Sources[p])
	}
	if m.Kind == KindNative {
		fp, err := m.Baseline.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("%w: baseline: %w", ErrBad, err)
		}
		b.WriteByte('\n')
		b.Write(fp)
	}
	return b.Bytes(), nil
}

// UnmarshalText parses the form written by [Manifest.MarshalText]. It is
// strict: anything unexpected is an error wrapping [ErrBad].
func (m *Manifest) UnmarshalText(text []byte) error {
	head, fp, hasFP := bytes.Cut(text, []byte("\n\n"))
	if hasFP {
		head = append(head, '\n')
	}
	var out Manifest
	bad := func(n int, format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrBad, n, fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(nil, 1<<20)
	n := 0
	seen := map[string]bool{}
	for sc.Scan() {
		n++
		if n == 1 {
			if sc.Text() != header {
				return bad(n, "want header %q", header)
			}
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		for i, f := range fields {
			if strings.HasPrefix(f, `"`) {
				u, err := strconv.Unquote(f)
				if err != nil {
					return bad(n, "field %d: %v", i+1, err)
				}
				fields[i] = u
			}
		}
		key, args := fields[0], fields[1:]
		want := map[string]int{"kind": 1, "id": 1, "package": 1, "source": 1, "sum": 1, "slot": 1, "redirect": 1, "src": 2}[key]
		if key == "slot" && out.Kind == KindProcess {
			want = 3
		}
		switch {
		case want == 0:
			return bad(n, "unknown key %q", key)
		case len(args) != want:
			return bad(n, "%s: want %d fields, have %d", key, want, len(args))
		case n == 2 && key != "kind":
			return bad(n, "want the kind first")
		case seen[key] && key != "slot" && key != "redirect" && key != "src":
			return bad(n, "duplicate %s", key)
		case slices.Contains(args, ""):
			return bad(n, "empty %s", key)
		}
		seen[key] = true
		switch key {
		case "kind":
			out.Kind = args[0]
		case "id":
			out.ID = args[0]
		case "package":
			out.Package = args[0]
		case "source":
			out.Source = args[0]
		case "sum":
			out.SourceSum = args[0]
		case "slot":
			s := Slot{Name: args[0]}
			if len(args) == 3 {
				s.Func, s.Type = args[1], args[2]
			}
			out.Slots = append(out.Slots, s)
		case "redirect":
			out.Redirects = append(out.Redirects, args[0])
		case "src":
			if out.Sources == nil {
				out.Sources = fingerprint.Sources{}
			}
			if _, dup := out.Sources[args[0]]; dup {
				return bad(n, "src %s listed twice", args[0])
			}
			out.Sources[args[0]] = args[1]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrBad, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: empty", ErrBad)
	}
	if out.Kind == KindNative {
		if !hasFP {
			return fmt.Errorf("%w: no blank line before the baseline fingerprint", ErrBad)
		}
		if err := out.Baseline.UnmarshalText(fp); err != nil {
			return fmt.Errorf("%w: baseline: %w", ErrBad, err)
		}
	} else if hasFP {
		return fmt.Errorf("%w: a %s manifest has no fingerprint after a blank line", ErrBad, out.Kind)
	}
	if err := out.check(); err != nil {
		return err
	}
	out.sort()
	*m = out
	return nil
}

// check says what m lacks or holds that its kind does not allow.
func (m Manifest) check() error {
	patch := m.Kind == KindNative || m.Kind == KindProcess
	switch {
	case !patch && m.Kind != KindBaseline:
		return fmt.Errorf("%w: kind %q, want %s, %s or %s", ErrBad, m.Kind, KindNative, KindProcess, KindBaseline)
	case m.Kind == KindNative && !validID(m.ID):
		return fmt.Errorf("%w: id %q is not a name of letters, digits, '_', '-' and '.'", ErrBad, m.ID)
	case m.Kind != KindNative && (m.ID != "" || m.SourceSum != "" || len(m.Redirects) > 0):
		return fmt.Errorf("%w: id, sum and redirects are for native patches, not %s", ErrBad, m.Kind)
	case patch && (m.Package == "" || len(m.Slots) == 0):
		return fmt.Errorf("%w: a %s patch without a package or a slot", ErrBad, m.Kind)
	case m.Kind == KindBaseline && (m.Package != "" || m.Source != "" || len(m.Slots) > 0):
		return fmt.Errorf("%w: a baseline manifest holds its source record only", ErrBad)
	}
	names := m.SlotNames()
	for _, s := range m.Slots {
		if s.Name == "" || (m.Kind == KindProcess) != (s.Func != "" && s.Type != "") || (m.Kind != KindProcess && s.Func+s.Type != "") {
			return fmt.Errorf("%w: slot %+v: a process slot has a name, a func and a type; a native one a name only", ErrBad, s)
		}
	}
	for what, list := range map[string][]string{"slot": names, "redirect": slices.Clone(m.Redirects)} {
		slices.Sort(list)
		for i := range list {
			if list[i] == "" || i > 0 && list[i] == list[i-1] {
				return fmt.Errorf("%w: %s %q empty or listed twice", ErrBad, what, list[i])
			}
		}
	}
	for p, h := range m.Sources {
		if p == "" || h == "" {
			return fmt.Errorf("%w: src %q %q", ErrBad, p, h)
		}
	}
	return nil
}

// sort puts m's lists in their order, in copies: m may share its slices
// with the caller.
func (m *Manifest) sort() {
	m.Slots = slices.Clone(m.Slots)
	slices.SortFunc(m.Slots, func(a, b Slot) int { return strings.Compare(a.Name, b.Name) })
	m.Redirects = slices.Sorted(slices.Values(m.Redirects))
}

// quote quotes f when writing it raw would be ambiguous.
func quote(f string) string {
	if f == "" || strings.HasPrefix(f, `"`) {
		return strconv.Quote(f)
	}
	for _, c := range f {
		if c == '\t' || !strconv.IsPrint(c) {
			return strconv.Quote(f)
		}
	}
	return f
}

// validID reports whether id can name a file: the native loader's private
// copy of the patch is named after it.
func validID(id string) bool {
	if id == "" || len(id) > 200 || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Encode returns the text of m as a string that needs no quoting in
// -ldflags=-X (unpadded base64url): how a process patch carries it.
func (m Manifest) Encode() (string, error) {
	text, err := m.MarshalText()
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(text), nil
}

// Decode parses what [Manifest.Encode] returned.
func Decode(s string) (Manifest, error) {
	var m Manifest
	text, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrBad, err)
	}
	err = m.UnmarshalText(text)
	return m, err
}
