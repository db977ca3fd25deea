package bundleloader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// Kind is the kind the loader reports for itself ([Loader.Kind]). The
// patches it returns have the kind of their payload.
const Kind hotswap.Kind = "bundle"

// Options configure a [Loader]. The zero value is ready to use.
type Options struct {
	// Dir is the private directory payloads are written to before their
	// loader reads them; it is created with mode 0700 if missing and must
	// not be writable by others. It is one host's alone: payload
	// directories a crashed process left there are removed at the first
	// load. A relative Dir is made absolute at [New]. "" means a fresh
	// directory under os.TempDir, removed by Close
	// (and left behind by a crash); loads are refused if others may write
	// os.TempDir without its sticky bit.
	Dir string
	// Logger receives a record per bundle loaded or refused; nil discards.
	Logger *slog.Logger
}

// Loader loads *.hpatch bundles: it verifies each with its policy and
// hands the payload to the delegate loader of the payload's kind. It
// implements [hotswap.Loader] and is safe for concurrent use.
type Loader struct {
	pol       bundle.Policy // never changed after New, but for Baseline (see baseline)
	marks     bundle.Marks
	delegates []hotswap.Loader
	opts      Options
	log       *slog.Logger

	baseOnce sync.Once
	baseline string // the running binary's fingerprint hash, "" if unknown

	mu     sync.Mutex // guards dir, closed
	dir    string     // the private directory, once made
	closed bool
}

var _ hotswap.Loader = (*Loader)(nil)

// New returns a loader of bundles that accepts what pol accepts and loads
// payloads with delegates, the first of each kind. The loader owns the
// delegates: its Close closes them (closing a loader twice is safe, so a
// delegate may also be attached to a manager). pol is copied; with a nil
// pol.Marks the replay marks are kept in memory by this loader.
func New(pol bundle.Policy, opts Options, delegates ...hotswap.Loader) *Loader {
	pol.Trusted = slices.Clone(pol.Trusted)
	pol.Kinds = slices.Clone(pol.Kinds)
	marks := pol.Marks
	if marks == nil {
		marks = &bundle.MemoryMarks{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(opts.Dir); opts.Dir != "" && err == nil {
		// Used from the first load on, which may come after a chdir: the
		// directory named now, whose leftovers it clears, is the one.
		opts.Dir = abs
	}
	return &Loader{pol: pol, marks: marks, delegates: slices.Clone(delegates), opts: opts, log: log}
}

// Kind returns [Kind].
func (l *Loader) Kind() hotswap.Kind { return Kind }

// Match reports whether path names a bundle: a *.hpatch file.
func (l *Loader) Match(path string) bool { return strings.HasSuffix(path, bundle.Ext) }

// Marks returns the replay marks the loader keeps (Policy.Marks, or its
// own in memory).
func (l *Loader) Marks() bundle.Marks { return l.marks }

// Load verifies the bundle at path and loads its payload. In order, each
// refusal naming the file and wrapping the bundle package's error:
//
//  1. the framing and the manifest are read, lengths checked before
//     anything is allocated (ErrNotBundle, ErrMalformed, ErrTooLarge);
//  2. the policy: signature and trust, expiry, accepted kinds, the
//     baseline of a native payload (ErrUnsigned, ErrUntrusted,
//     ErrManifestTampered, ErrExpired, ErrWrongKind, ErrWrongBaseline,
//     which also matches [hotswap.ErrBaselineChanged]);
//  3. a delegate of the payload's kind must be there and match the
//     payload's name (ErrWrongKind);
//  4. the replay rule (ErrReplay);
//  5. the payload is copied into a private file (mode 0600, 0700 for a
//     process payload, in a directory of mode 0700) while its SHA-256 is
//     checked (ErrPayloadTampered), and its first bytes must fit its kind
//     (ErrWrongKind);
//  6. only then does the delegate load it; the slots it serves must be
//     those the manifest lists (ErrMalformed).
//
// The patch's ID is the bundle's [bundle.Manifest.PatchID], its Source
// path, its Kind the payload's. Its Validate hook judges the expiry and
// applies the replay rule again under the manager's change lock, so a
// bundle loaded before its expiry is not applied after it and two
// versions racing are ordered, and raises the mark before the delegate's
// own Validate runs.
func (l *Loader) Load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	p, err := l.load(ctx, host, path)
	if err != nil {
		l.log.Warn("bundle: refused", "source", path, "err", err)
		return hotswap.Patch{}, err
	}
	l.log.Info("bundle: loaded", "source", path, "patch", p.ID, "kind", p.Kind)
	return p, nil
}

func (l *Loader) load(ctx context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	if l.isClosed() {
		return hotswap.Patch{}, fmt.Errorf("bundle: load %s: %w", path, hotswap.ErrClosed)
	}
	b, err := bundle.Open(path, l.pol.Limits)
	if err != nil {
		return hotswap.Patch{}, err
	}
	defer b.Close()
	m := b.Manifest
	pol := l.pol
	if pol.Baseline == "" && m.Kind == string(hotswap.KindNative) {
		pol.Baseline = l.runningBaseline()
	}
	signer, err := pol.Verify(b)
	if err != nil {
		if errors.Is(err, bundle.ErrWrongBaseline) {
			return hotswap.Patch{}, fmt.Errorf("%s: %w (%w)", path, err, hotswap.ErrBaselineChanged)
		}
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	d := l.delegate(hotswap.Kind(m.Kind))
	if d == nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w: no loader of kind %q (loaders: %s)", path, bundle.ErrWrongKind, m.Kind, l.kinds())
	}
	if !d.Match(m.Payload.Name) {
		return hotswap.Patch{}, fmt.Errorf("%s: %w: the %s loader does not take a payload named %q", path, bundle.ErrWrongKind, m.Kind, m.Payload.Name)
	}
	if err := bundle.CheckReplay(l.marks, b); err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	file, cleanup, err := l.writePayload(b)
	if err != nil {
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	// The delegates keep what they need (the script in memory, a private
	// copy of an executable or a plugin): the file goes once they return.
	defer cleanup()
	h := &idHost{Host: host, outer: m.PatchID()}
	p, err := d.Load(ctx, h, file)
	if err != nil {
		err = &payloadError{dir: filepath.Dir(file) + string(filepath.Separator), err: err}
		return hotswap.Patch{}, fmt.Errorf("%s (bundle %s, %s payload): %w", path, m.PatchID(), m.Kind, err)
	}
	if err := slotsMatch(m, p); err != nil {
		if p.Retire != nil {
			_ = p.Retire(ctx) // never applied: release it here
		}
		return hotswap.Patch{}, fmt.Errorf("%s: %w", path, err)
	}
	innerID := p.ID
	h.inner.Store(&innerID)
	if p.Kind == "" {
		p.Kind = d.Kind()
	}
	p.ID = m.PatchID()
	p.Source = path
	marks, inner := l.marks, p.Validate
	p.Validate = func(ctx context.Context) error {
		// A patch may be applied long after it was loaded: its expiry is
		// judged again, as the replay rule is, before the mark rises.
		if err := pol.CheckExpiry(m); err != nil {
			return err
		}
		if err := bundle.CheckReplay(marks, b); err != nil {
			return err
		}
		// Only a bundle signed by a trusted key raises the mark: an
		// unsigned one (accepted without RequireSigned) says any version
		// it likes, and would lock the signed versions of its ID out.
		if signer != nil {
			if err := bundle.Advance(marks, b); err != nil {
				return err
			}
		}
		if inner != nil {
			return inner(ctx)
		}
		return nil
	}
	return p, nil
}

// slotsMatch checks that p serves the slots m lists, when m lists any.
func slotsMatch(m bundle.Manifest, p hotswap.Patch) error {
	if len(m.Slots) == 0 {
		return nil
	}
	want := make([]string, len(m.Slots))
	for i, s := range m.Slots {
		want[i] = s.Name
	}
	slices.Sort(want)
	got := slices.Sorted(maps.Keys(p.Impls))
	if !slices.Equal(got, want) {
		return fmt.Errorf("%w: the payload serves slots %v, the manifest lists %v (build the bundle with `hotpatch bundle`, which lists what the payload serves)", bundle.ErrMalformed, got, want)
	}
	return nil
}

func (l *Loader) delegate(k hotswap.Kind) hotswap.Loader {
	for _, d := range l.delegates {
		if d.Kind() == k {
			return d
		}
	}
	return nil
}

func (l *Loader) kinds() string {
	var ks []string
	for _, d := range l.delegates {
		ks = append(ks, string(d.Kind()))
	}
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

// runningBaseline returns the fingerprint hash of the running binary, or
// "" if it has none (no build information): then the native loader's own
// check, which says what differs, is the only one.
func (l *Loader) runningBaseline() string {
	l.baseOnce.Do(func() {
		if r, err := fingerprint.Fingerprint(); err == nil {
			l.baseline = r.Hash()
		}
	})
	return l.baseline
}

// writePayload copies b's payload into a new private directory, checking
// its pin, and returns the file and the func that removes the directory.
func (l *Loader) writePayload(b *bundle.Bundle) (string, func(), error) {
	dir, err := l.privateDir()
	if err != nil {
		return "", nil, err
	}
	vdir, err := os.MkdirTemp(dir, payloadDirPrefix+"*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(vdir) }
	mode := os.FileMode(0o600)
	if b.Manifest.Kind == string(hotswap.KindProcess) {
		mode = 0o700
	}
	file := filepath.Join(vdir, b.Manifest.Payload.Name) // a base name: checked by the manifest's schema
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	err = b.CopyPayload(f)
	if err == nil {
		err = sniff(f, b.Manifest.Kind)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return file, cleanup, nil
}

func sniff(f *os.File, kind string) error {
	head := make([]byte, 512)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err
	}
	return bundle.CheckPayloadKind(kind, head[:n])
}

// payloadDirPrefix begins the name of each payload's directory in the
// private directory.
const payloadDirPrefix = "b-"

// privateDir returns the directory payloads are written to, made on
// first use; leftovers of a crashed process are removed then.
func (l *Loader) privateDir() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", hotswap.ErrClosed
	}
	if l.dir != "" {
		return l.dir, nil
	}
	if l.opts.Dir == "" {
		d, err := os.MkdirTemp("", "hotpatch-bundles-")
		if err != nil {
			return "", err
		}
		// In a temporary directory others may write without the sticky
		// bit, they could put their own directory in this one's place.
		if err := bundle.CheckMode(d, 0o022); err != nil {
			os.Remove(d)
			return "", fmt.Errorf("bundle: the private directory under $TMPDIR: %w (or set the bundle loader's Dir)", err)
		}
		l.dir = d
		return d, nil
	}
	if err := os.MkdirAll(l.opts.Dir, 0o700); err != nil {
		return "", err
	}
	if err := bundle.CheckMode(l.opts.Dir, 0o022); err != nil {
		return "", err
	}
	// Payload directories left by a process that died in a load: the
	// directory is this host's alone (Options.Dir), so no load of
	// another is under way in them.
	if stale, err := filepath.Glob(filepath.Join(l.opts.Dir, payloadDirPrefix+"*")); err == nil {
		for _, d := range stale {
			os.RemoveAll(d)
		}
	}
	l.dir = l.opts.Dir
	return l.dir, nil
}

func (l *Loader) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close refuses later loads with an error wrapping [hotswap.ErrClosed],
// closes the delegates, newest first, and removes the private directory
// it made. It is safe to call more than once.
func (l *Loader) Close(ctx context.Context) error {
	l.mu.Lock()
	first := !l.closed
	l.closed = true
	dir := l.dir
	l.mu.Unlock()
	if !first {
		return nil
	}
	var errs []error
	for _, d := range slices.Backward(l.delegates) {
		if err := d.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s loader: %w", d.Kind(), err))
		}
	}
	if dir != "" && l.opts.Dir == "" {
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// idHost is the host a delegate loads a payload for: the manager's, with
// the delegate's own ID for the patch translated to the bundle's, so that
// a rollback or an event the delegate raises later names the patch the
// manager knows.
type idHost struct {
	hotswap.Host
	outer string
	inner atomic.Pointer[string] // the delegate's ID, once its Load returned
}

func (h *idHost) translate(id string) string {
	if in := h.inner.Load(); in != nil && *in == id {
		return h.outer
	}
	return id
}

func (h *idHost) RollBack(ctx context.Context, id string, why error) error {
	return h.Host.RollBack(ctx, h.translate(id), why)
}

func (h *idHost) Record(e hotswap.Event) error {
	e.PatchID = h.translate(e.PatchID)
	return h.Host.Record(e)
}

// payloadError is a delegate's refusal of a payload, whose message names
// the payload by its name in the bundle rather than by the private file
// it was read from, which is gone by the time anyone reads the message.
type payloadError struct {
	dir string // the private directory, with a trailing separator
	err error
}

func (e *payloadError) Error() string { return strings.ReplaceAll(e.err.Error(), e.dir, "") }
func (e *payloadError) Unwrap() error { return e.err }
