package bundleloader_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

var (
	key      = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	t0       = time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
)

func src(greeting string) []byte {
	return []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"" + greeting + " \" + n }\n")
}

func manifest(version uint64) bundle.Manifest {
	return bundle.Manifest{ID: "greet-fix", Version: version, Kind: "script", Created: t0,
		Slots: []bundle.Slot{{Name: "example.Greet", Type: "func(string) string"}}, Payload: bundle.Payload{Name: "greet.go"}}
}

type fixture struct {
	t     *testing.T
	mgr   *hotswap.Manager
	greet *registry.Func[func(string) string]
	bl    *bundleloader.Loader
	dir   string // where bundles are written
	priv  string // the loader's private directory
}

func newFixture(t *testing.T, extra ...hotswap.Loader) *fixture {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(t.TempDir(), "priv")
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true,
		Now: func() time.Time { return t0.Add(time.Hour) }}
	loaders := append([]hotswap.Loader{script.New(script.Options{})}, extra...)
	bl := bundleloader.New(pol, bundleloader.Options{Dir: priv}, loaders...)
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return &fixture{t: t, mgr: mgr, greet: greet, bl: bl, dir: t.TempDir(), priv: priv}
}

// write writes a bundle file and returns its path.
func (f *fixture) write(name string, m bundle.Manifest, payload []byte, k ed25519.PrivateKey) string {
	var buf bytes.Buffer
	if _, err := bundle.Write(&buf, m, payload, k); err != nil {
		f.t.Fatal(err)
	}
	path := filepath.Join(f.dir, name+bundle.Ext)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func (f *fixture) apply(path string) error {
	p, err := f.mgr.Load(context.Background(), f.bl, path)
	if err != nil {
		return err
	}
	if _, err := f.mgr.Apply(context.Background(), p); err != nil {
		f.mgr.Release(p)
		return err
	}
	return nil
}

// TestRefusalsLeaveServingVersion: a bundle applies through the manager;
// then every bad bundle is refused with its own error, and the version
// serving before keeps serving, the generation unchanged.
func TestRefusalsLeaveServingVersion(t *testing.T) {
	f := newFixture(t)
	if err := f.apply(f.write("good", manifest(2), src("hi"), key)); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "hi x" {
		t.Fatalf("after the good bundle: %q", got)
	}
	st := f.mgr.Status()
	if len(st.Stack) != 1 || st.Stack[0].ID != "greet-fix@2" || st.Stack[0].Kind != hotswap.KindScript {
		t.Fatalf("stack = %+v", st.Stack)
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries after the load", len(entries))
	}
	gen := f.mgr.Generation()

	good, _ := os.ReadFile(f.write("tmp", manifest(3), src("yo"), key))
	tamperedPayload := bytes.Clone(good)
	tamperedPayload[len(good)-3] ^= 1
	tamperedManifest := bytes.Replace(good, []byte(`"version": 3`), []byte(`"version": 9`), 1)
	expired := manifest(3)
	expired.Expires = t0.Add(time.Minute)
	wrongSlots := manifest(3)
	wrongSlots.Slots = []bundle.Slot{{Name: "example.Other"}}
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...)
	proc := manifest(3)
	proc.Kind, proc.Payload.Name = "process", "greet.proc"
	native := manifest(3)
	native.Kind, native.Payload.Name, native.Baseline = "native", "greet.so", strings.Repeat("0", 64)
	raw := func(name string, data []byte) string {
		p := filepath.Join(f.dir, name+bundle.Ext)
		os.WriteFile(p, data, 0o644)
		return p
	}

	cases := []struct {
		name string
		path string
		want []error
	}{
		{"unsigned", f.write("unsigned", manifest(3), src("yo"), nil), []error{bundle.ErrUnsigned}},
		{"wrong key", f.write("wrongkey", manifest(3), src("yo"), otherKey), []error{bundle.ErrUntrusted}},
		{"tampered payload", raw("tp", tamperedPayload), []error{bundle.ErrPayloadTampered, bundle.ErrTampered}},
		{"tampered manifest", raw("tm", tamperedManifest), []error{bundle.ErrManifestTampered, bundle.ErrTampered}},
		{"truncated", raw("trunc", good[:len(good)/2]), []error{bundle.ErrMalformed}},
		{"tar with a ../ member", raw("tar", tarball(t, &tar.Header{Name: "../../evil.go", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644})), []error{bundle.ErrNotBundle}},
		{"tar with a symlink member", raw("symlink", tarball(t, &tar.Header{Name: "greet.so", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})), []error{bundle.ErrNotBundle}},
		{"gzip bomb", raw("bomb", bomb(t)), []error{bundle.ErrNotBundle}},
		{"2 GiB manifest declared", raw("huge", append([]byte("\x89hpatch\n\x80\x00\x00\x00"), good[12:]...)), []error{bundle.ErrTooLarge}},
		{"expired", f.write("expired", expired, src("yo"), key), []error{bundle.ErrExpired}},
		{"wrong kind: no loader", f.write("proc", proc, elf, key), []error{bundle.ErrWrongKind}},
		{"wrong kind: script that is ELF", f.write("elf", manifest(3), elf, key), []error{bundle.ErrWrongKind}},
		{"slots the manifest does not list", f.write("slots", wrongSlots, src("yo"), key), []error{bundle.ErrMalformed}},
		{"replay of an older version", f.write("old", manifest(1), src("old"), key), []error{bundle.ErrReplay}},
		{"version reused with another payload", f.write("reused", manifest(2), src("other"), key), []error{bundle.ErrReplay}},
		{"script error in payload", f.write("broken", manifest(3), []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return undefined }\n"), key), nil},
	}
	if _, err := fingerprint.Fingerprint(); err == nil {
		cases = append(cases, struct {
			name string
			path string
			want []error
		}{"wrong fingerprint", f.write("native", native, elf, key), []error{bundle.ErrWrongBaseline, hotswap.ErrBaselineChanged}})
	}
	for _, tt := range cases {
		err := f.apply(tt.path)
		if err == nil {
			t.Errorf("%s: applied", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, w)
			}
		}
		if !strings.Contains(err.Error(), tt.path) || strings.Contains(err.Error(), f.priv) {
			t.Errorf("%s: err %q does not name the file, or names the private one", tt.name, err)
		}
		if tt.name == "script error in payload" && !strings.Contains(err.Error(), "): greet.go:4:") {
			t.Errorf("%s: err %q does not name the payload's line", tt.name, err)
		}
		if got := f.greet.Load()("x"); got != "hi x" {
			t.Errorf("%s: serving %q after the refusal", tt.name, got)
		}
		if g := f.mgr.Generation(); g != gen {
			t.Errorf("%s: generation %d -> %d", tt.name, gen, g)
		}
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries after the refusals", len(entries))
	}
}

func tarball(t *testing.T, h *tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write(make([]byte, h.Size))
	tw.Close()
	return buf.Bytes()
}

// bomb returns 16 MiB of zeros, gzipped (some 16 KiB).
func bomb(t *testing.T) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 16 {
		zw.Write(zeros)
	}
	zw.Close()
	return buf.Bytes()
}

// TestReplayUnderTheLock: two versions loaded before either is applied
// are ordered by the Validate hook: once version 4 is applied, version 3
// is refused at Apply.
func TestReplayUnderTheLock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p3, err := f.mgr.Load(ctx, f.bl, f.write("v3", manifest(3), src("three"), key))
	if err != nil {
		t.Fatal(err)
	}
	p4, err := f.mgr.Load(ctx, f.bl, f.write("v4", manifest(4), src("four"), key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.mgr.Apply(ctx, p4); err != nil {
		t.Fatal(err)
	}
	_, err = f.mgr.Apply(ctx, p3)
	if !errors.Is(err, bundle.ErrReplay) || !errors.Is(err, hotswap.ErrVetoed) {
		t.Errorf("older version applied after a newer one: %v", err)
	}
	f.mgr.Release(p3)
	if got := f.greet.Load()("x"); got != "four x" {
		t.Errorf("serving %q", got)
	}
	// A newer version replaces the older in one swap; the older ID is
	// what SplitPatchID reads back.
	p5, err := f.mgr.Load(ctx, f.bl, f.write("v5", manifest(5), src("five"), key))
	if err != nil {
		t.Fatal(err)
	}
	p5.Replaces = "greet-fix@4"
	if _, err := f.mgr.Apply(ctx, p5); err != nil {
		t.Fatal(err)
	}
	if st := f.mgr.Status(); len(st.Stack) != 1 || st.Stack[0].ID != "greet-fix@5" {
		t.Errorf("stack = %+v", st.Stack)
	}
}

// customLoader loads *.k payloads of its own kind and keeps the host, to
// roll its patch back later by its own ID.
type customLoader struct{ host hotswap.Host }

func (l *customLoader) Kind() hotswap.Kind     { return "custom" }
func (l *customLoader) Match(path string) bool { return strings.HasSuffix(path, ".k") }
func (l *customLoader) Close(context.Context) error {
	return nil
}
func (l *customLoader) Load(_ context.Context, host hotswap.Host, path string) (hotswap.Patch, error) {
	l.host = host
	return hotswap.Patch{ID: "inner-id", Impls: map[string]any{"example.Greet": func(n string) string { return "custom " + n }}}, nil
}

// TestDelegateIDTranslated: a delegate that rolls its patch back later by
// its own ID rolls back the bundle's patch.
func TestDelegateIDTranslated(t *testing.T) {
	cl := &customLoader{}
	f := newFixture(t, cl)
	m := manifest(1)
	m.Kind, m.Payload.Name = "custom", "x.k"
	if err := f.apply(f.write("custom", m, []byte("anything"), key)); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "custom x" {
		t.Fatalf("serving %q", got)
	}
	if err := cl.host.RollBack(context.Background(), "inner-id", errors.New("gave up")); err != nil {
		t.Fatalf("RollBack by the delegate's ID: %v", err)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("after the rollback, serving %q", got)
	}
}

// TestClose: after Close, loads are refused with ErrClosed.
func TestClose(t *testing.T) {
	f := newFixture(t)
	if err := f.bl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.bl.Close(context.Background())
	if err := f.apply(f.write("late", manifest(1), src("late"), key)); !errors.Is(err, hotswap.ErrClosed) {
		t.Errorf("load after Close: %v", err)
	}
}

// TestConcurrentLoads: eight bundles of different IDs loaded and applied
// at once all land, in some order; the private directory is left empty.
func TestConcurrentLoads(t *testing.T) {
	f := newFixture(t)
	paths := make([]string, 8)
	for i := range paths {
		m := manifest(1)
		m.ID = fmt.Sprintf("fix-%d", i)
		paths[i] = f.write(m.ID, m, src(fmt.Sprintf("v%d", i)), key)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for _, p := range paths {
		wg.Go(func() { errs <- f.apply(p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := f.mgr.Status(); len(st.Stack) != len(paths) {
		t.Errorf("%d patches in the stack, want %d", len(st.Stack), len(paths))
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries", len(entries))
	}
}
