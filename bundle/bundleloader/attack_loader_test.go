package bundleloader_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttackScriptWithoutSlots: a script's manifest that lists no slots
// would let its payload patch any slot (the check of the slots served is
// skipped for an empty list). The builder always lists a script's and a
// native patch's slots, so a manifest of those kinds without them is
// refused; the serving version stays.
func TestAttackScriptWithoutSlots(t *testing.T) {
	f := newFixture(t)
	m := manifest(1)
	m.Slots = nil
	path := filepath.Join(f.dir, "noslots"+bundle.Ext)
	os.WriteFile(path, signRaw(t, m, src("sneaky")), 0o644)
	err := f.apply(path)
	if !errors.Is(err, bundle.ErrMalformed) {
		t.Errorf("script bundle listing no slots: %v, want ErrMalformed", err)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q after the refusal", got)
	}
}

// signRaw frames and signs m and payload as bundle.Write would, without
// its checks: what a hostile or older builder could sign.
func signRaw(t *testing.T, m bundle.Manifest, payload []byte) []byte {
	m.Format = bundle.FormatVersion
	sum := sha256.Sum256(payload)
	m.Payload.SHA256, m.Payload.Size = hex.EncodeToString(sum[:]), int64(len(payload))
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	id := bundle.KeyIDOf(key.Public().(ed25519.PublicKey))
	var buf bytes.Buffer
	buf.WriteString("\x89hpatch\n")
	buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(raw))))
	buf.Write(raw)
	buf.Write(binary.BigEndian.AppendUint16(nil, uint16(len(id)+ed25519.SignatureSize)))
	buf.Write(id[:])
	buf.Write(ed25519.Sign(key, append([]byte("hotpatch-bundle-v1\x00"), raw...)))
	buf.Write(payload)
	return buf.Bytes()
}

// hookMarks runs hook on the first Mark, which the loader calls after the
// bundle was verified and before its payload is copied: the window in
// which a file swapped in the watched directory could be loaded unverified.
type hookMarks struct {
	bundle.MemoryMarks
	once sync.Once
	hook func()
}

func (h *hookMarks) Mark(id string) (bundle.Mark, bool, error) {
	h.once.Do(h.hook)
	return h.MemoryMarks.Mark(id)
}

func swapFixture(t *testing.T, marks bundle.Marks) (*hotswap.Manager, *registry.Func[func(string) string], *bundleloader.Loader) {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true,
		Now: func() time.Time { return t0.Add(time.Hour) }, Marks: marks}
	bl := bundleloader.New(pol, bundleloader.Options{Dir: filepath.Join(t.TempDir(), "priv")}, script.New(script.Options{}))
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return mgr, greet, bl
}

func writeBundle(t *testing.T, path string, m bundle.Manifest, payload []byte) []byte {
	var buf bytes.Buffer
	if _, err := bundle.Write(&buf, m, payload, key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAttackSwapWhileVerified: a bundle replaced in the watched directory
// between its verification and the copy of its payload. Renamed over: the
// verified bundle (the open file) is the one loaded. Rewritten in place:
// the copy no longer matches the pin and is refused. Never is a payload
// loaded that was not the one verified.
func TestAttackSwapWhileVerified(t *testing.T) {
	ctx := context.Background()
	t.Run("renamed over", func(t *testing.T) {
		dir := t.TempDir()
		path, other := filepath.Join(dir, "greet.hpatch"), filepath.Join(dir, "other.tmp")
		writeBundle(t, path, manifest(1), src("one"))
		writeBundle(t, other, manifest(2), src("two"))
		marks := &hookMarks{hook: func() {
			if err := os.Rename(other, path); err != nil {
				t.Error(err)
			}
		}}
		mgr, greet, bl := swapFixture(t, marks)
		p, err := mgr.Load(ctx, bl, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := greet.Load()("x"); got != "one x" || p.ID != "greet-fix@1" {
			t.Errorf("patch %s serving %q, want greet-fix@1 serving \"one x\"", p.ID, got)
		}
	})
	t.Run("rewritten in place", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "greet.hpatch")
		data := writeBundle(t, path, manifest(1), src("one"))
		i := bytes.LastIndex(data, []byte(`"one `))
		marks := &hookMarks{hook: func() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteAt([]byte(`"own `), int64(i))
			f.Close()
		}}
		mgr, greet, bl := swapFixture(t, marks)
		_, err := mgr.Load(ctx, bl, path)
		if !errors.Is(err, bundle.ErrPayloadTampered) {
			t.Errorf("payload rewritten after verification: %v, want ErrPayloadTampered", err)
		}
		if got := greet.Load()("x"); got != "hello x" {
			t.Errorf("serving %q", got)
		}
	})
}

// TestAttackStalePrivateFiles: payload files a crashed process left in
// the private directory (Options.Dir) are removed when the loader first
// uses it, not kept forever.
func TestAttackStalePrivateFiles(t *testing.T) {
	f := newFixture(t)
	stale := filepath.Join(f.priv, "b-123456")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "greet.go"), src("stale"), 0o600)
	if err := f.apply(f.write("good", manifest(1), src("hi"), key)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries (a crash's leftovers)", len(entries))
	}
}

// TestAttackExpiresBetweenLoadAndApply: a bundle loaded before its expiry
// and applied after it is refused at apply: the expiry is judged again
// under the manager's change lock, as the replay rule is.
func TestAttackExpiresBetweenLoadAndApply(t *testing.T) {
	ctx := context.Background()
	var now atomic.Pointer[time.Time]
	set := func(d time.Duration) { tm := t0.Add(d); now.Store(&tm) }
	set(time.Hour)
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(ctx)
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true,
		Now: func() time.Time { return *now.Load() }}
	bl := bundleloader.New(pol, bundleloader.Options{Dir: filepath.Join(t.TempDir(), "priv")}, script.New(script.Options{}))
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	m := manifest(1)
	m.Expires = t0.Add(2 * time.Hour)
	path := filepath.Join(t.TempDir(), "greet.hpatch")
	writeBundle(t, path, m, src("late"))
	p, err := mgr.Load(ctx, bl, path)
	if err != nil {
		t.Fatal(err)
	}
	set(3 * time.Hour)
	if _, err := mgr.Apply(ctx, p); !errors.Is(err, bundle.ErrExpired) {
		t.Errorf("applied after its expiry: %v, want ErrExpired", err)
		return
	}
	mgr.Release(p)
	if got := greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q", got)
	}
	// The refusal raised no mark: a bundle never applied is no replay
	// horizon.
	if _, ok, _ := bl.Marks().Mark("greet-fix"); ok {
		t.Error("an expired bundle raised the replay mark")
	}
}

// TestAttackReplayAfterRevert: reverting a version does not lower the
// mark: the older version is still a replay, the reverted one may come
// back, and a newer one lands.
func TestAttackReplayAfterRevert(t *testing.T) {
	f := newFixture(t)
	v1 := f.write("v1", manifest(1), src("one"), key)
	if err := f.apply(v1); err != nil {
		t.Fatal(err)
	}
	v2 := f.write("v2", manifest(2), src("two"), key)
	if err := f.apply(v2); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.mgr.Revert(ctx, "greet-fix@2"); err != nil {
		t.Fatal(err)
	}
	if err := f.mgr.Revert(ctx, "greet-fix@1"); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(v1); !errors.Is(err, bundle.ErrReplay) {
		t.Errorf("version 1 after version 2 was reverted: %v, want ErrReplay", err)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q after the refused replay", got)
	}
	if err := f.apply(v2); err != nil {
		t.Errorf("the reverted version 2 again: %v", err)
	}
	if err := f.apply(f.write("v3", manifest(3), src("three"), key)); err != nil {
		t.Errorf("version 3: %v", err)
	}
	if got := f.greet.Load()("x"); got != "three x" {
		t.Errorf("serving %q", got)
	}
}

// TestAttackConcurrentVersions: eight versions of one ID pushed at once.
// Whatever the order, the highest always lands, every other either lands
// or is refused as a replay (never another error, never lost silently),
// and the mark ends at the highest.
func TestAttackConcurrentVersions(t *testing.T) {
	f := newFixture(t)
	const n = 8
	paths := make([]string, n)
	for i := range paths {
		paths[i] = f.write(fmt.Sprintf("v%d", i+1), manifest(uint64(i+1)), src(fmt.Sprintf("v%d", i+1)), key)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { errs[i] = f.apply(p) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, bundle.ErrReplay) {
			t.Errorf("version %d: %v", i+1, err)
		}
	}
	if errs[n-1] != nil {
		t.Errorf("the highest version did not land: %v", errs[n-1])
	}
	if mk, ok, _ := f.bl.Marks().Mark("greet-fix"); !ok || mk.Version != n {
		t.Errorf("mark = %+v, %v; want version %d", mk, ok, n)
	}
	if got := f.greet.Load()("x"); got != fmt.Sprintf("v%d x", n) {
		t.Errorf("serving %q", got)
	}
}

// TestAttackLinksInTheWatchedDirectory: a bundle in the patch directory
// may be a link (as configuration volumes mount files); what it leads to
// is read once, through one descriptor, and passes every check: a link to
// a signed bundle loads, a link to an unsigned one, a FIFO, a directory
// or itself is refused without hanging, and the serving version stays.
func TestAttackLinksInTheWatchedDirectory(t *testing.T) {
	f := newFixture(t)
	elsewhere := t.TempDir()
	signed := filepath.Join(elsewhere, "signed.hpatch")
	writeBundle(t, signed, manifest(1), src("linked"))
	var unsigned bytes.Buffer
	if _, err := bundle.Write(&unsigned, manifest(2), src("unsigned"), nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(elsewhere, "unsigned.hpatch"), unsigned.Bytes(), 0o644)
	fifo := filepath.Join(elsewhere, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(f.dir, name+bundle.Ext)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, target := range map[string]string{
		"unsigned":  filepath.Join(elsewhere, "unsigned.hpatch"),
		"fifo":      fifo,
		"directory": elsewhere,
		"loop":      filepath.Join(f.dir, "loop"+bundle.Ext),
		"dangling":  filepath.Join(elsewhere, "gone.hpatch"),
	} {
		if err := f.apply(link(name, target)); err == nil {
			t.Errorf("link to %s: applied", name)
		}
		if got := f.greet.Load()("x"); got != "hello x" {
			t.Errorf("link to %s: serving %q", name, got)
		}
	}
	if err := f.apply(link("signed", signed)); err != nil {
		t.Errorf("link to a signed bundle: %v", err)
	}
	if got := f.greet.Load()("x"); got != "linked x" {
		t.Errorf("serving %q", got)
	}
}

// TestAttackKindConfusion: a payload of one kind dressed as another (by
// the manifest's kind, the payload's name or its bytes) is refused as
// the wrong kind before any loader opens it.
func TestAttackKindConfusion(t *testing.T) {
	f := newFixture(t, process.New(process.Options{}))
	// The head is what is judged: no loader may open these payloads.
	exe := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 120)...)
	for _, tt := range []struct {
		kind, name string
		payload    []byte
	}{
		{"script", "greet.so", exe},
		{"script", "greet.proc", src("x")},
		{"script", "greet.go", exe},
		{"process", "greet.proc", src("x")},
		{"process", "greet.go", exe},
		{"process", "greet.so", exe},
	} {
		m := manifest(1)
		m.Kind, m.Payload.Name = tt.kind, tt.name
		err := f.apply(f.write("confused", m, tt.payload, key))
		if !errors.Is(err, bundle.ErrWrongKind) {
			t.Errorf("kind %s, payload %s: %v, want ErrWrongKind", tt.kind, tt.name, err)
		}
		if got := f.greet.Load()("x"); got != "hello x" {
			t.Errorf("serving %q", got)
		}
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries", len(entries))
	}
}

// TestAttackUnsignedRaisesNoMark: on a host that takes unsigned bundles
// too (no RequireSigned), anyone who can drop a file could push an
// unsigned version 1000 of a signed line and lock every signed version
// out as a replay. Only a bundle signed by a trusted key raises a mark.
func TestAttackUnsignedRaisesNoMark(t *testing.T) {
	ctx := context.Background()
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(ctx)
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Now: func() time.Time { return t0.Add(time.Hour) }}
	bl := bundleloader.New(pol, bundleloader.Options{Dir: filepath.Join(t.TempDir(), "priv")}, script.New(script.Options{}))
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	apply := func(path string) error {
		p, err := mgr.Load(ctx, bl, path)
		if err != nil {
			return err
		}
		if _, err := mgr.Apply(ctx, p); err != nil {
			mgr.Release(p)
			return err
		}
		return nil
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	if _, err := bundle.Write(&buf, manifest(1000), src("squat"), nil); err != nil {
		t.Fatal(err)
	}
	squat := filepath.Join(dir, "squat.hpatch")
	os.WriteFile(squat, buf.Bytes(), 0o644)
	if err := apply(squat); err != nil {
		t.Fatalf("unsigned bundle on a host that takes them: %v", err)
	}
	if _, ok, _ := bl.Marks().Mark("greet-fix"); ok {
		t.Error("an unsigned bundle raised the mark")
	}
	signed := filepath.Join(dir, "signed.hpatch")
	writeBundle(t, signed, manifest(2), src("signed"))
	if err := apply(signed); err != nil {
		t.Errorf("signed version 2 after an unsigned version 1000: %v", err)
	}
	if got := greet.Load()("x"); got != "signed x" {
		t.Errorf("serving %q", got)
	}
}

// TestAttackOpenTempDir: with no Options.Dir, payloads go to a fresh
// directory under os.TempDir. If that is writable by others without the
// sticky bit, they could rename the fresh directory away and put their
// own payload where the delegate reads it: the load is refused instead.
func TestAttackOpenTempDir(t *testing.T) {
	open := filepath.Join(t.TempDir(), "tmp")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	t.Setenv("TMPDIR", open)
	ctx := context.Background()
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(ctx)
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true, Now: func() time.Time { return t0.Add(time.Hour) }}
	bl := bundleloader.New(pol, bundleloader.Options{}, script.New(script.Options{}))
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "greet.hpatch")
	writeBundle(t, path, manifest(1), src("one"))
	if _, err := mgr.Load(ctx, bl, path); !errors.Is(err, bundle.ErrInsecureMode) {
		t.Errorf("payload directory under an open TMPDIR: %v, want ErrInsecureMode", err)
	}
	if got := greet.Load()("x"); got != "hello x" {
		t.Errorf("serving %q", got)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Errorf("left %d entries in TMPDIR", len(entries))
	}
}
