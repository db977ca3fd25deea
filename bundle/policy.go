package bundle

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Errors of this package. Each refusal of [Policy.Verify],
// [Bundle.CopyPayload], [CheckPayloadKind] and [CheckReplay] wraps
// exactly one of them, so a caller can tell them apart with errors.Is.
var (
	// ErrNotBundle: the file does not start with the bundle magic (an
	// archive, a compressed file or a bare payload renamed .hpatch).
	ErrNotBundle = errors.New("bundle: not a hotpatch bundle")
	// ErrMalformed: the framing or the manifest breaks the format:
	// truncated, trailing data, a length that lies, bad JSON, a field out
	// of the schema.
	ErrMalformed = errors.New("bundle: malformed bundle")
	// ErrTooLarge: a length field or the payload exceeds [Limits].
	ErrTooLarge = errors.New("bundle: over the size limit")
	// ErrUnsigned: the policy requires a signature and the bundle has none.
	ErrUnsigned = errors.New("bundle: bundle is not signed")
	// ErrUntrusted: the bundle is signed with a key the policy does not
	// trust.
	ErrUntrusted = errors.New("bundle: bundle is signed by an untrusted key")
	// ErrTampered is matched by both kinds of tampering below.
	ErrTampered = errors.New("bundle: bundle was altered after it was signed")
	// ErrManifestTampered: the signature of a trusted key does not verify
	// the manifest.
	ErrManifestTampered = fmt.Errorf("%w: the signature does not match the manifest", ErrTampered)
	// ErrPayloadTampered: the payload's size or SHA-256 is not the one the
	// manifest pins.
	ErrPayloadTampered = fmt.Errorf("%w: the payload does not match the manifest", ErrTampered)
	// ErrExpired: the manifest's expiry time has passed.
	ErrExpired = errors.New("bundle: bundle has expired")
	// ErrWrongKind: the kind is not one the host accepts, has no loader,
	// or does not fit the payload (a script that is an executable, an
	// executable that is text).
	ErrWrongKind = errors.New("bundle: wrong kind of payload")
	// ErrWrongBaseline: a native payload built against another baseline
	// than the running binary.
	ErrWrongBaseline = errors.New("bundle: native payload built against another baseline")
	// ErrReplay: a bundle older than one already applied with the same ID,
	// or another bundle under an ID and version already applied.
	ErrReplay = errors.New("bundle: replay of an older bundle")
	// ErrInsecureMode: a key file, trust file or directory that others
	// than its owner may write (see [CheckMode]).
	ErrInsecureMode = errors.New("bundle: permissions too open")
	// ErrBadKey: a key or trust file that holds no usable ed25519 key, or
	// a [Policy] whose Trusted holds a key that is not one.
	ErrBadKey = errors.New("bundle: bad key file")
)

// Policy is what a host accepts. The zero value accepts unsigned bundles
// (development); production sets Trusted and RequireSigned. Whatever the
// policy, a signature by a trusted key must verify, the payload must match
// its pin, an expired bundle is refused, and the replay rule applies.
type Policy struct {
	// Trusted are the public keys whose signatures are accepted.
	Trusted []ed25519.PublicKey
	// RequireSigned refuses unsigned bundles ([ErrUnsigned]) and bundles
	// signed by a key not in Trusted ([ErrUntrusted]). Without it, both
	// load as unsigned.
	RequireSigned bool
	// Kinds, if not nil, are the kinds accepted ([ErrWrongKind] for
	// another).
	Kinds []string
	// Baseline, if not "", is the fingerprint hash a native payload must
	// have been built against ([ErrWrongBaseline]). The bundle loader sets
	// it to the running binary's when it is "".
	Baseline string
	// Now returns the time expiry is judged by; nil means time.Now.
	Now func() time.Time
	// Marks keeps the replay high-water marks; nil means the bundle
	// loader keeps them in memory, for the life of the loader.
	Marks Marks
	// Limits bound what is read.
	Limits Limits
}

// Verify checks b's manifest against p, in this order: its signature
// (ErrUnsigned, ErrUntrusted, ErrManifestTampered), its expiry
// (ErrExpired), its kind (ErrWrongKind) and, for a native payload, its
// baseline (ErrWrongBaseline). It reads no payload: [Bundle.CopyPayload]
// checks the payload against the manifest's pin. It returns the ID of the
// trusted key that signed b, or nil when b is accepted as unsigned.
func (p *Policy) Verify(b *Bundle) (*KeyID, error) {
	m := b.Manifest
	signer, err := p.verifySignature(b)
	if err != nil {
		return nil, err
	}
	if err := p.CheckExpiry(m); err != nil {
		return nil, err
	}
	if p.Kinds != nil && !slices.Contains(p.Kinds, m.Kind) {
		return nil, fmt.Errorf("%w: kind %q, this host accepts %v", ErrWrongKind, m.Kind, p.Kinds)
	}
	if m.Kind == "native" && p.Baseline != "" && m.Baseline != p.Baseline {
		return nil, fmt.Errorf("%w: built against %.12s, the running binary is %.12s: rebuild the patch against the running baseline, or take the baseline step",
			ErrWrongBaseline, m.Baseline, p.Baseline)
	}
	return signer, nil
}

// CheckExpiry refuses m ([ErrExpired]) if its expiry is not after the
// policy's now. [Policy.Verify] calls it; a caller that applies a bundle
// later than it verified it calls it again then.
func (p *Policy) CheckExpiry(m Manifest) error {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	if !m.Expires.IsZero() && !now.Before(m.Expires) {
		return fmt.Errorf("%w: %s version %d expired at %s (now %s): build and sign a new bundle", ErrExpired, m.ID, m.Version,
			m.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func (p *Policy) verifySignature(b *Bundle) (*KeyID, error) {
	s := b.Signature
	if s == nil {
		if p.RequireSigned {
			return nil, fmt.Errorf("%w: this host requires bundles signed by a trusted key (sign with `hotpatch bundle --key`)", ErrUnsigned)
		}
		return nil, nil
	}
	// A key ID is 8 bytes: two trusted keys may share one, so every key
	// of the ID is tried before the signature is called a forgery.
	matched := false
	for i, k := range p.Trusted {
		if len(k) != ed25519.PublicKeySize {
			// ed25519.Verify panics on such a key: a Policy built from
			// configuration must fail with a reason, not crash the host.
			return nil, fmt.Errorf("%w: trusted key %d of the policy is %d bytes, an ed25519 public key is %d (read trust files with bundle.ReadTrusted)",
				ErrBadKey, i, len(k), ed25519.PublicKeySize)
		}
		if KeyIDOf(k) != s.KeyID {
			continue
		}
		matched = true
		if ed25519.Verify(k, signed(b.Raw), s.Sig) {
			id := s.KeyID
			return &id, nil
		}
	}
	if matched {
		return nil, fmt.Errorf("%w (key %s): the file was altered or damaged in transit; copy it again, or build it again with `hotpatch bundle`", ErrManifestTampered, s.KeyID)
	}
	if p.RequireSigned {
		return nil, fmt.Errorf("%w: key %s is not among the %d trusted key(s): sign with a trusted key, or add this key's NAME.pub to the host's trust file", ErrUntrusted, s.KeyID, len(p.Trusted))
	}
	return nil, nil
}

// CheckPayloadKind checks that head, the first bytes of a payload (512
// are enough), fits kind: a native or process payload is an executable
// (ELF, Mach-O or PE), a script is text. Other kinds are not checked.
// Errors wrap [ErrWrongKind].
func CheckPayloadKind(kind string, head []byte) error {
	exe := executableFormat(head)
	switch kind {
	case "native", "process":
		if exe == "" {
			return fmt.Errorf("%w: a %s payload must be an executable or shared object, this one is not", ErrWrongKind, kind)
		}
	case "script":
		if exe != "" {
			return fmt.Errorf("%w: a script payload must be Go source, this one is %s", ErrWrongKind, exe)
		}
		if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(trimPartialRune(head)) {
			return fmt.Errorf("%w: a script payload must be Go source, this one is binary", ErrWrongKind)
		}
	}
	return nil
}

func executableFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "an ELF file"
	case bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(head, []byte{0xce, 0xfa, 0xed, 0xfe}):
		return "a Mach-O file"
	case bytes.HasPrefix(head, []byte("MZ")):
		return "a PE file"
	}
	return ""
}

// trimPartialRune drops a rune cut by the end of head.
func trimPartialRune(head []byte) []byte {
	for i := 0; i < utf8.UTFMax && i < len(head); i++ {
		if utf8.RuneStart(head[len(head)-1-i]) {
			if !utf8.FullRune(head[len(head)-1-i:]) {
				return head[:len(head)-1-i]
			}
			break
		}
	}
	return head
}

// Mark is the high-water mark of one bundle ID: the highest version
// applied and the digest of its manifest ([Bundle.Digest]).
type Mark struct {
	Version uint64
	Digest  string
}

// Marks keeps the replay high-water marks, one per bundle ID. Its methods
// may be called concurrently. [MemoryMarks] keeps them in memory; a store
// that keeps them across restarts (the journal of the baseline step)
// implements the same two methods.
type Marks interface {
	// Mark returns the mark of id; ok is false if no bundle of id was
	// applied.
	Mark(id string) (m Mark, ok bool, err error)
	// SetMark records the mark of id. It is called only to raise it.
	SetMark(id string, m Mark) error
}

// MemoryMarks keeps marks in memory. The zero value is ready to use.
type MemoryMarks struct {
	mu    sync.Mutex // guards marks
	marks map[string]Mark
}

// Mark implements [Marks].
func (s *MemoryMarks) Mark(id string) (Mark, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.marks[id]
	return m, ok, nil
}

// SetMark implements [Marks].
func (s *MemoryMarks) SetMark(id string, m Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marks == nil {
		s.marks = make(map[string]Mark)
	}
	s.marks[id] = m
	return nil
}

// CheckReplay applies the replay rule to b: it is refused ([ErrReplay])
// if a bundle of the same ID with a higher version was applied, or one of
// the same ID and version with another manifest. The same bundle again (a
// re-push, a re-apply after a revert) passes.
func CheckReplay(marks Marks, b *Bundle) error {
	m := b.Manifest
	mk, ok, err := marks.Mark(m.ID)
	if err != nil {
		return fmt.Errorf("bundle: replay mark of %s: %w", m.ID, err)
	}
	switch {
	case !ok || m.Version > mk.Version:
		return nil
	case m.Version < mk.Version:
		return fmt.Errorf("%w: %s version %d, version %d was already applied (to go back, sign the old payload again as %s)",
			ErrReplay, m.ID, m.Version, mk.Version, nextVersion(mk))
	case b.Digest() != mk.Digest:
		return fmt.Errorf("%w: %s version %d was already applied with another manifest (%s); a version is never reused: sign this one as %s",
			ErrReplay, m.ID, m.Version, mk.Digest, nextVersion(mk))
	}
	return nil
}

// nextVersion says what to sign next after mk: its version plus one, or,
// at the highest version there is, a new ID.
func nextVersion(mk Mark) string {
	if mk.Version == math.MaxUint64 {
		return "version 1 of a new ID (this ID is at its highest version)"
	}
	return fmt.Sprintf("version %d", mk.Version+1)
}

// Advance raises the mark of b's ID to b's version, after b was applied.
// It never lowers a mark.
func Advance(marks Marks, b *Bundle) error {
	m := b.Manifest
	mk, ok, err := marks.Mark(m.ID)
	if err != nil {
		return fmt.Errorf("bundle: replay mark of %s: %w", m.ID, err)
	}
	if ok && mk.Version >= m.Version {
		return nil
	}
	return marks.SetMark(m.ID, Mark{Version: m.Version, Digest: b.Digest()})
}
