package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hotpatch-go/hotpatch/internal/patchfile"
	"github.com/hotpatch-go/hotpatch/internal/slotname"
)

// The framing of a bundle file (see the package documentation):
//
//	magic      8 bytes   "\x89hpatch\n"
//	mlen       4 bytes   big-endian length of the manifest
//	manifest   mlen bytes of JSON
//	slen       2 bytes   big-endian length of the signature block: 0 or 72
//	signature  slen bytes: key ID (8) and ed25519 signature (64)
//	payload    the rest of the file, exactly manifest.payload.size bytes
const (
	magic     = "\x89hpatch\n"
	sigLen    = KeyIDSize + ed25519.SignatureSize
	fixedHead = len(magic) + 4
)

// Ext is the file name extension of bundles.
const Ext = ".hpatch"

// FormatVersion is the version of the manifest schema and framing this
// package writes and reads.
const FormatVersion = 1

// The defaults of [Limits].
const (
	DefaultMaxManifest = 64 << 10  // 64 KiB of manifest JSON
	DefaultMaxPayload  = 256 << 20 // 256 MiB of payload
)

// signContext is prefixed to the manifest bytes before they are signed, so
// that a signature made for a bundle means nothing in any other protocol
// that might use the same key, and the reverse.
const signContext = "hotpatch-bundle-v1\x00"

// Limits bound what a reader accepts. Each is checked against the length
// fields before anything is allocated. A zero field means its default.
type Limits struct {
	MaxManifest int64 // bytes of manifest JSON; DefaultMaxManifest
	MaxPayload  int64 // bytes of payload; DefaultMaxPayload
}

func (l Limits) withDefaults() Limits {
	if l.MaxManifest <= 0 {
		l.MaxManifest = DefaultMaxManifest
	}
	if l.MaxPayload <= 0 {
		l.MaxPayload = DefaultMaxPayload
	}
	return l
}

// Manifest describes a bundle's payload. It is stored as JSON, and the
// stored bytes, as they are, are what the signature covers.
type Manifest struct {
	// Format is [FormatVersion].
	Format int `json:"format"`
	// ID names the patch line: successive versions of one fix share it.
	// Letters, digits, '_', '-' and '.', not starting with '.', at most
	// 128 bytes.
	ID string `json:"id"`
	// Version orders the bundles of one ID, from 1; see the replay rule
	// in the package documentation.
	Version uint64 `json:"version"`
	// Kind is the kind of the payload: "script", "native", "process" or
	// the kind of an application's own loader.
	Kind string `json:"kind"`
	// Baseline is, for a native payload, the fingerprint hash of the
	// baseline it was built against (fingerprint.Record.Hash).
	Baseline string `json:"baseline,omitempty"`
	// Slots are the slots the payload serves, with their func types as
	// written in the source where the builder knew them.
	Slots []Slot `json:"slots"`
	// Payload pins the payload.
	Payload Payload `json:"payload"`
	// Created is when the bundle was built.
	Created time.Time `json:"created"`
	// Expires, if not zero, is when the bundle stops being accepted.
	Expires time.Time `json:"expires,omitzero"`
	// Author and Description are for humans.
	Author      string `json:"author,omitempty"`
	Description string `json:"description,omitempty"`
}

// Slot is one slot a payload serves.
type Slot struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"` // e.g. "func(string) string"; "" when unknown (native)
}

// Payload pins the payload of a bundle.
type Payload struct {
	// Name is the payload's file name, whose extension its loader
	// matches (greet.go, fix.so, fix.proc). A base name only.
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // lower-case hex
	Size   int64  `json:"size"`
}

// PatchID returns the ID of the patch a bundle of m loads as: its ID, '@'
// and its version ("billing-fix@3"). Each version is a patch of its own in
// the manager's stack, so a newer version can replace an older one.
func (m Manifest) PatchID() string { return fmt.Sprintf("%s@%d", m.ID, m.Version) }

// SplitPatchID is the inverse of [Manifest.PatchID]; ok is false for an ID
// that no bundle gives.
func SplitPatchID(patchID string) (id string, version uint64, ok bool) {
	i := strings.LastIndexByte(patchID, '@')
	if i < 0 || !validName(patchID[:i], maxIDLen) {
		return "", 0, false
	}
	var v uint64
	if _, err := fmt.Sscanf(patchID[i+1:], "%d", &v); err != nil || v == 0 || fmt.Sprint(v) != patchID[i+1:] {
		return "", 0, false
	}
	return patchID[:i], v, true
}

const (
	maxIDLen   = 128
	maxKindLen = 32
	maxText    = 4096 // author, description, slot types
	maxSlots   = 1024
)

// Check reports what m lacks or holds that the schema does not allow, as
// an error wrapping [ErrMalformed].
func (m Manifest) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Format != FormatVersion:
		return bad("format %d, this reader knows %d (a newer hotpatch wrote it?)", m.Format, FormatVersion)
	case !validName(m.ID, maxIDLen):
		return bad("id %q is not a name of letters, digits, '_', '-' and '.' (at most %d, not starting with '.')", m.ID, maxIDLen)
	case m.Version == 0:
		return bad("version 0: versions start at 1")
	case !validKind(m.Kind):
		return bad("kind %q is not a lower-case word", m.Kind)
	case m.Kind == "native" && !validHex(m.Baseline):
		return bad("a native payload needs the baseline fingerprint hash (64 hex digits), have %q", m.Baseline)
	case m.Kind != "native" && m.Baseline != "":
		return bad("a baseline fingerprint is for native payloads, not %s", m.Kind)
	case !validName(m.Payload.Name, 255) || !strings.Contains(m.Payload.Name, "."):
		return bad("payload name %q is not a base name with an extension", m.Payload.Name)
	case !validHex(m.Payload.SHA256):
		return bad("payload sha256 %q is not 64 lower-case hex digits", m.Payload.SHA256)
	case m.Payload.Size <= 0:
		return bad("payload size %d", m.Payload.Size)
	case m.Created.IsZero():
		return bad("no creation time")
	case !m.Expires.IsZero() && !m.Expires.After(m.Created):
		return bad("expires (%s) is not after created (%s)", m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	case len(m.Author) > maxText || len(m.Description) > maxText:
		return bad("author or description longer than %d bytes", maxText)
	case !PlainText(m.Author):
		return bad("author %q holds a control or bidirectional-formatting character", m.Author)
	case !PlainText(m.Description):
		return bad("description %q holds a control or bidirectional-formatting character", m.Description)
	case len(m.Slots) > maxSlots:
		return bad("%d slots, at most %d", len(m.Slots), maxSlots)
	case len(m.Slots) == 0 && (m.Kind == "script" || m.Kind == "native"):
		// A list of none means "not known" (a process payload whose
		// symbols were stripped), and its loader then takes whatever
		// slots the payload serves. A script or a native patch always
		// says its slots, so the list may not be empty: a signer must
		// see in the manifest every slot the payload can patch.
		return bad("a %s payload lists the slots it serves, this manifest lists none", m.Kind)
	}
	seen := make(map[string]bool, len(m.Slots))
	for _, s := range m.Slots {
		switch {
		case !slotname.Valid(s.Name):
			return bad("slot name %q is not dotted identifiers", s.Name)
		case seen[s.Name]:
			return bad("slot %s listed twice", s.Name)
		case len(s.Type) > maxText || !utf8.ValidString(s.Type) || !PlainText(s.Type):
			return bad("slot %s: type %q too long, not UTF-8, or holding a control or bidirectional-formatting character", s.Name, s.Type)
		}
		seen[s.Name] = true
	}
	return nil
}

// validName reports whether s can name a file: letters, digits, '_', '-'
// and '.', not starting with '.', at most max bytes. No separator, so no
// path.
func validName(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// PlainText reports whether s, text for humans that `hotpatch verify`
// prints, holds no control character (a terminal escape, a carriage
// return that rewrites the line, a newline that forges a row) and no
// bidirectional formatting character (which can make a word read
// backwards).
func PlainText(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}

func validKind(s string) bool {
	if s == "" || len(s) > maxKindLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseManifest parses manifest JSON strictly: one object, no unknown
// field, keys in lower-case ASCII, no key twice (two readers must never see two manifests in the
// same signed bytes), no trailing data, and the schema's rules
// ([Manifest.Check]). Errors wrap [ErrMalformed].
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if !utf8.Valid(data) {
		return m, fmt.Errorf("%w: manifest is not UTF-8", ErrMalformed)
	}
	if err := noDuplicateKeys(data); err != nil {
		return m, fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Manifest{}, fmt.Errorf("%w: manifest: data after the JSON object", ErrMalformed)
	}
	// The zero time is how "no expiry" is held: written out, it would be
	// the year 1 to a reader that takes it literally, and never to this one.
	var present struct {
		Expires json.RawMessage `json:"expires"`
	}
	if err := json.Unmarshal(data, &present); err == nil && present.Expires != nil && string(present.Expires) != "null" && m.Expires.IsZero() {
		return Manifest{}, fmt.Errorf("%w: manifest: expires is the zero time; leave it out for no expiry", ErrMalformed)
	}
	if err := m.Check(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// noDuplicateKeys walks the JSON in data and refuses an object with a key
// twice, which encoding/json would silently resolve to the last, and a
// key that is not lower-case ASCII, which it might match to a field by
// case folding (so two keys that differ could still set one field).
func noDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next token of an object is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			top := &stack[len(stack)-1]
			if top.key {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					continue
				}
				k, _ := tok.(string)
				if !schemaKey(k) {
					// encoding/json matches keys to fields by Unicode case
					// folding: "ID", "Kind" (Kelvin sign) or
					// "ſlots" (long s) would set a field that a reader
					// comparing keys exactly never sees.
					return fmt.Errorf("key %q is not lower case (ASCII letters, digits and '_' only)", k)
				}
				if top.keys[k] {
					return fmt.Errorf("key %q twice in one object", k)
				}
				top.keys[k] = true
				top.key = false
				continue
			}
			top.key = true
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				if len(stack) > 32 {
					return errors.New("nested too deep")
				}
				stack = append(stack, frame{keys: map[string]bool{}, object: true, key: true})
			case '[':
				stack = append(stack, frame{})
			case ']':
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// schemaKey reports whether k can be a key of the schema: lower-case
// ASCII letters, digits and '_'. Such a key folds to no other.
func schemaKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Signature is a bundle's signature block.
type Signature struct {
	KeyID KeyID  // of the public key that verifies it
	Sig   []byte // ed25519 over signContext and the manifest bytes
}

// Bundle is a bundle whose framing and manifest were read and parsed,
// and nothing verified yet: see [Policy.Verify] and [Bundle.CopyPayload].
type Bundle struct {
	Manifest Manifest
	// Raw is the manifest as stored: the bytes the signature covers.
	Raw []byte
	// Signature is nil for an unsigned bundle.
	Signature *Signature

	payload *io.SectionReader
	closer  io.Closer // the file of Open
}

// Digest returns "sha256:" and the hex SHA-256 of the manifest as stored:
// what names this exact bundle (its signature aside) in the replay marks.
func (b *Bundle) Digest() string {
	sum := sha256.Sum256(b.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Read reads a bundle of size bytes from r: its framing, its manifest and
// its signature block. The payload is not read; [Bundle.CopyPayload] reads
// it. Every length is checked against lim and against size before anything
// is allocated, so a header that claims gigabytes costs nothing. Errors
// wrap [ErrNotBundle] (not this format at all: the message names what it
// looks like instead), [ErrTooLarge] or [ErrMalformed].
func Read(r io.ReaderAt, size int64, lim Limits) (*Bundle, error) {
	lim = lim.withDefaults()
	head := make([]byte, fixedHead)
	if n, err := r.ReadAt(head, 0); n < len(magic) || string(head[:len(magic)]) != magic {
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrNotBundle, sniff(r, size))
	} else if n < fixedHead {
		return nil, fmt.Errorf("%w: truncated: %d bytes, the header alone is %d", ErrMalformed, size, fixedHead)
	}
	mlen := int64(binary.BigEndian.Uint32(head[len(magic):]))
	if mlen > lim.MaxManifest {
		return nil, fmt.Errorf("%w: the header declares a manifest of %d bytes, the limit is %d", ErrTooLarge, mlen, lim.MaxManifest)
	}
	off := int64(fixedHead)
	if mlen+2 > size-off {
		return nil, fmt.Errorf("%w: truncated: the header declares a manifest of %d bytes, the file holds %d after the header", ErrMalformed, mlen, size-off)
	}
	raw := make([]byte, mlen)
	if _, err := r.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("%w: reading the manifest: %w", ErrMalformed, err)
	}
	off += mlen
	var sl [2]byte
	if _, err := r.ReadAt(sl[:], off); err != nil {
		return nil, fmt.Errorf("%w: reading the signature length: %w", ErrMalformed, err)
	}
	off += 2
	b := &Bundle{Raw: raw}
	switch n := int64(binary.BigEndian.Uint16(sl[:])); n {
	case 0:
	case sigLen:
		if n > size-off {
			return nil, fmt.Errorf("%w: truncated in the signature block", ErrMalformed)
		}
		block := make([]byte, sigLen)
		if _, err := r.ReadAt(block, off); err != nil {
			return nil, fmt.Errorf("%w: reading the signature: %w", ErrMalformed, err)
		}
		b.Signature = &Signature{Sig: block[KeyIDSize:]}
		copy(b.Signature.KeyID[:], block)
		off += n
	default:
		return nil, fmt.Errorf("%w: signature block of %d bytes, want 0 or %d", ErrMalformed, n, sigLen)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	if m.Payload.Size > lim.MaxPayload {
		return nil, fmt.Errorf("%w: the manifest declares a payload of %d bytes, the limit is %d", ErrTooLarge, m.Payload.Size, lim.MaxPayload)
	}
	if rest := size - off; rest != m.Payload.Size {
		what := "truncated"
		if rest > m.Payload.Size {
			what = "trailing data"
		}
		return nil, fmt.Errorf("%w: %s: the manifest declares a payload of %d bytes, the file holds %d", ErrMalformed, what, m.Payload.Size, rest)
	}
	b.Manifest = m
	b.payload = io.NewSectionReader(r, off, m.Payload.Size)
	return b, nil
}

// sniff names the format of a file that is not a bundle, for the error:
// archives and compressed files are what a bundle is most often confused
// with, and none of them is ever unpacked.
func sniff(r io.ReaderAt, size int64) string {
	buf := make([]byte, min(size, 512))
	n, _ := r.ReadAt(buf, 0)
	buf = buf[:n]
	what := ""
	switch {
	case n == 0:
		return "empty file"
	case bytes.HasPrefix(buf, []byte{0x1f, 0x8b}):
		what = "a gzip file"
	case bytes.HasPrefix(buf, []byte("PK\x03\x04")):
		what = "a zip archive"
	case bytes.HasPrefix(buf, []byte("BZh")):
		what = "a bzip2 file"
	case bytes.HasPrefix(buf, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		what = "an xz file"
	case bytes.HasPrefix(buf, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		what = "a zstd file"
	case n >= 262 && string(buf[257:262]) == "ustar":
		what = "a tar archive"
	case bytes.HasPrefix(buf, []byte("\x7fELF")):
		what = "an ELF file (a bare payload?)"
	case bytes.HasPrefix(buf, []byte(magic[:len(magic)-1])):
		what = "a bundle whose magic was altered"
	}
	if what != "" {
		return fmt.Sprintf("no bundle magic: the file is %s, which is never unpacked (build a bundle with `hotpatch bundle`)", what)
	}
	return "no bundle magic (build a bundle with `hotpatch bundle`)"
}

// CopyPayload copies the payload to w, hashing it as it goes, and fails
// with an error wrapping [ErrPayloadTampered] if its SHA-256 is not the
// one the manifest pins. w has then received bytes that must be thrown
// away: copy into a private file and remove it on error.
func (b *Bundle) CopyPayload(w io.Writer) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(b.payload, 0, b.payload.Size()))
	if err != nil {
		return fmt.Errorf("bundle: reading the payload: %w", err)
	}
	if n != b.Manifest.Payload.Size {
		return fmt.Errorf("%w: payload is %d bytes, the manifest says %d (copy the file again, or build it again with `hotpatch bundle`)", ErrPayloadTampered, n, b.Manifest.Payload.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.Manifest.Payload.SHA256 {
		return fmt.Errorf("%w: payload SHA-256 is %s, the manifest pins %s (copy the file again, or build it again with `hotpatch bundle`)", ErrPayloadTampered, got, b.Manifest.Payload.SHA256)
	}
	return nil
}

// Write writes a bundle of m and payload to w, signed with key (nil
// writes an unsigned bundle). It sets m.Format and m.Payload's SHA-256
// and size from payload, and a zero m.Created to now, and checks the
// result ([Manifest.Check]). It returns the manifest as written.
func Write(w io.Writer, m Manifest, payload []byte, key ed25519.PrivateKey) (Manifest, error) {
	m.Format = FormatVersion
	sum := sha256.Sum256(payload)
	m.Payload.SHA256 = hex.EncodeToString(sum[:])
	m.Payload.Size = int64(len(payload))
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	if !m.Expires.IsZero() {
		m.Expires = m.Expires.UTC().Truncate(time.Second)
	}
	if err := m.Check(); err != nil {
		return m, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	raw = append(raw, '\n')
	if len(raw) > DefaultMaxManifest {
		return m, fmt.Errorf("%w: manifest of %d bytes, readers accept %d by default", ErrTooLarge, len(raw), DefaultMaxManifest)
	}
	var buf bytes.Buffer
	buf.WriteString(magic)
	buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(raw))))
	buf.Write(raw)
	if key == nil {
		buf.Write([]byte{0, 0})
	} else {
		if len(key) != ed25519.PrivateKeySize {
			return m, errors.New("bundle: private key of the wrong size")
		}
		buf.Write(binary.BigEndian.AppendUint16(nil, sigLen))
		id := KeyIDOf(key.Public().(ed25519.PublicKey))
		buf.Write(id[:])
		buf.Write(ed25519.Sign(key, signed(raw)))
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return m, err
	}
	_, err = w.Write(payload)
	return m, err
}

// signed returns the message a signature covers.
func signed(raw []byte) []byte {
	return append([]byte(signContext), raw...)
}

// Open opens the bundle file at path and reads it with [Read]. The file
// is opened without blocking and must be a regular file (a FIFO put in
// its place is refused, not waited on). Close the bundle once its payload
// was copied.
func Open(path string, lim Limits) (*Bundle, error) {
	f, fi, err := patchfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b, err := Read(f, fi.Size(), lim)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.closer = f
	return b, nil
}

// Close closes the file of a bundle returned by [Open]; for one returned
// by [Read] it does nothing.
func (b *Bundle) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}
