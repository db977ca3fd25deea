package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	testKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	otherKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	testPub   = testKey.Public().(ed25519.PublicKey)
	t0        = time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	scriptSrc = []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"hi \" + n }\n")
)

func testManifest() Manifest {
	return Manifest{ID: "greet-fix", Version: 2, Kind: "script", Created: t0,
		Slots:   []Slot{{Name: "example.Greet", Type: "func(string) string"}},
		Payload: Payload{Name: "greet.go"}, Author: "ops", Description: "friendlier greeting"}
}

func build(t testing.TB, m Manifest, payload []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(&buf, m, payload, key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func policy() *Policy {
	return &Policy{Trusted: []ed25519.PublicKey{testPub}, RequireSigned: true, Now: func() time.Time { return t0.Add(time.Hour) }}
}

// check runs every check a host runs on data: read, verify, copy the
// payload, its kind.
func check(pol *Policy, data []byte) error {
	b, err := Read(bytes.NewReader(data), int64(len(data)), pol.Limits)
	if err != nil {
		return err
	}
	if _, err := pol.Verify(b); err != nil {
		return err
	}
	var out bytes.Buffer
	if err := b.CopyPayload(&out); err != nil {
		return err
	}
	return CheckPayloadKind(b.Manifest.Kind, out.Bytes()[:min(out.Len(), 512)])
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	data := build(t, testManifest(), scriptSrc, testKey)
	b, err := Read(bytes.NewReader(data), int64(len(data)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := policy().Verify(b)
	if err != nil || signer == nil || *signer != KeyIDOf(testPub) {
		t.Fatalf("Verify = %v, %v; want the test key", signer, err)
	}
	var out bytes.Buffer
	if err := b.CopyPayload(&out); err != nil || !bytes.Equal(out.Bytes(), scriptSrc) {
		t.Fatalf("CopyPayload = %q, %v", out.Bytes(), err)
	}
	m := b.Manifest
	if m.ID != "greet-fix" || m.Version != 2 || m.PatchID() != "greet-fix@2" || m.Payload.Size != int64(len(scriptSrc)) || !m.Created.Equal(t0) {
		t.Errorf("manifest read back = %+v", m)
	}
	if id, v, ok := SplitPatchID(m.PatchID()); !ok || id != "greet-fix" || v != 2 {
		t.Errorf("SplitPatchID = %q %d %v", id, v, ok)
	}
	for _, bad := range []string{"greet.go-abc", "x@0", "x@01", "@1", "../x@1", "x@"} {
		if _, _, ok := SplitPatchID(bad); ok {
			t.Errorf("SplitPatchID(%q) ok", bad)
		}
	}
	// Without RequireSigned, an unsigned bundle passes as unsigned.
	un := build(t, testManifest(), scriptSrc, nil)
	if err := check(&Policy{}, un); err != nil {
		t.Errorf("unsigned bundle, lax policy: %v", err)
	}
}

// tarball returns a tar archive with one member of hdr and body.
func tarball(t *testing.T, hdrs ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// withHeader replaces the manifest-length field of data.
func withManifestLen(data []byte, n uint32) []byte {
	out := bytes.Clone(data)
	binary.BigEndian.PutUint32(out[len(magic):], n)
	return out
}

// TestHostileInputs: every bad or hostile input is refused with its own
// error, and the message says why.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	good := build(t, testManifest(), scriptSrc, testKey)
	mlen := int(binary.BigEndian.Uint32(good[len(magic):]))
	manifestAt := fixedHead
	payloadAt := fixedHead + mlen + 2 + sigLen

	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x20; return b }
	expired := testManifest()
	expired.Expires = t0.Add(30 * time.Minute)
	native := testManifest()
	native.Kind, native.Payload.Name, native.Baseline = "native", "greet.so", strings.Repeat("ab", 32)
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...)
	dup := strings.Replace(string(build(t, testManifest(), scriptSrc, nil)), `"id": "greet-fix",`, `"id": "greet-fix", "id": "other",`, 1)
	dup = string(withManifestLen([]byte(dup), uint32(mlen+len(` "id": "other",`))))
	unknown := strings.Replace(string(build(t, testManifest(), scriptSrc, nil)), `"id": "greet-fix",`, `"id": "greet-fix", "ids": "x",`, 1)
	unknown = string(withManifestLen([]byte(unknown), uint32(mlen+len(` "ids": "x",`))))
	traversal := strings.Replace(string(build(t, testManifest(), scriptSrc, testKey)), `"name": "greet.go"`, `"name": "../x.go"`, 1)
	traversal = string(withManifestLen([]byte(traversal), uint32(mlen+len("../x.go")-len("greet.go"))))
	upper := strings.Replace(string(build(t, testManifest(), scriptSrc, nil)), `"version": 2`, `"Version": 2`, 1)
	sigBlock := bytes.Clone(good)
	binary.BigEndian.PutUint16(sigBlock[fixedHead+mlen:], 71)

	for _, tt := range []struct {
		name string
		data []byte
		pol  *Policy
		want error
		msg  string
	}{
		{"unsigned", build(t, testManifest(), scriptSrc, nil), nil, ErrUnsigned, "requires bundles signed"},
		{"wrong key", build(t, testManifest(), scriptSrc, otherKey), nil, ErrUntrusted, "not among the 1 trusted"},
		{"tampered payload", flip(payloadAt + 3), nil, ErrPayloadTampered, "SHA-256 is"},
		{"tampered manifest", flip(manifestAt + bytes.Index(good[manifestAt:], []byte("friendlier"))), nil, ErrManifestTampered, "signature does not match"},
		{"tampered signature", flip(payloadAt - 1), nil, ErrManifestTampered, ""},
		{"truncated in payload", good[:len(good)-5], nil, ErrMalformed, "truncated"},
		{"truncated in manifest", good[:fixedHead+10], nil, ErrMalformed, "truncated"},
		{"truncated in header", good[:10], nil, ErrMalformed, "truncated"},
		{"truncated in signature", good[:payloadAt-10], nil, ErrMalformed, ""},
		{"trailing data", append(bytes.Clone(good), 'x'), nil, ErrMalformed, "trailing data"},
		{"empty", nil, nil, ErrNotBundle, "empty file"},
		{"tar with ../ member", tarball(t, &tar.Header{Name: "../../etc/cron.d/evil", Typeflag: tar.TypeReg, Size: 10, Mode: 0o644}), nil, ErrNotBundle, "tar archive, which is never unpacked"},
		{"tar with symlink member", tarball(t, &tar.Header{Name: "payload.so", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}), nil, ErrNotBundle, "tar archive"},
		{"tar with oversize member", tarball(t, &tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: 1 << 20, Mode: 0o644}), nil, ErrNotBundle, "tar archive"},
		{"gzip bomb", gzipped(make([]byte, 16<<20)), nil, ErrNotBundle, "gzip file"},
		{"zip", zipped(t), nil, ErrNotBundle, "zip archive"},
		{"bare ELF", elf, nil, ErrNotBundle, "ELF"},
		{"manifest of 2 GiB declared", withManifestLen(good, 2<<30), nil, ErrTooLarge, "manifest of 2147483648 bytes"},
		{"manifest length past the file", withManifestLen(good, uint32(len(good))), nil, ErrMalformed, "truncated"},
		{"payload of 2 GiB declared", build(t, testManifest(), scriptSrc, testKey), &Policy{Limits: Limits{MaxPayload: 10}}, ErrTooLarge, "payload of"},
		{"signature block of 71 bytes", sigBlock, nil, ErrMalformed, "signature block of 71"},
		{"expired", build(t, expired, scriptSrc, testKey), nil, ErrExpired, "expired at 2026-11-30T04:30:00Z"},
		{"kind not accepted", good, &Policy{Kinds: []string{"native"}}, ErrWrongKind, "accepts [native]"},
		{"script that is an executable", build(t, testManifest(), elf, testKey), nil, ErrWrongKind, "ELF"},
		{"native that is text", build(t, native, scriptSrc, testKey), nil, ErrWrongKind, "must be an executable"},
		{"wrong baseline", build(t, native, elf, testKey), &Policy{Baseline: strings.Repeat("cd", 32)}, ErrWrongBaseline, "take the baseline step"},
		{"duplicate key", []byte(dup), &Policy{}, ErrMalformed, `key "id" twice`},
		{"unknown field", []byte(unknown), &Policy{}, ErrMalformed, `unknown field "ids"`},
		{"key not in lower case", []byte(upper), &Policy{}, ErrMalformed, `key "Version" is not lower case`},
		{"payload name with ../", []byte(traversal), nil, ErrMalformed, "not a base name"},
	} {
		pol := tt.pol
		if pol == nil {
			pol = policy()
		}
		err := check(pol, tt.data)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %q, want it to say %q", tt.name, err, tt.msg)
		}
	}
	// Each refusal has its own error: tampering is not mistaken for an
	// untrusted key and so on.
	if err := check(policy(), flip(payloadAt+3)); errors.Is(err, ErrManifestTampered) || !errors.Is(err, ErrTampered) {
		t.Errorf("tampered payload: %v", err)
	}
}

func zipped(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("../evil.go")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(scriptSrc)
	zw.Close()
	return buf.Bytes()
}

// TestLyingSizesAllocateNothing: a header that declares 2 GiB (manifest
// or payload) is refused without allocating what it claims.
func TestLyingSizesAllocateNothing(t *testing.T) {
	good := build(t, testManifest(), scriptSrc, testKey)
	huge := testManifest()
	var buf bytes.Buffer
	Write(&buf, huge, scriptSrc, testKey)
	size := fmt.Sprintf(`"size": %d`, len(scriptSrc))
	bigPayload := bytes.Replace(buf.Bytes(), []byte(size), []byte(`"size": 2147483648`), 1)
	bigPayload = withManifestLen(bigPayload, uint32(int(binary.BigEndian.Uint32(good[len(magic):]))+len(`"size": 2147483648`)-len(size)))
	for name, tt := range map[string]struct {
		data []byte
		want error
	}{
		"manifest":     {withManifestLen(good, 0xffffffff), ErrTooLarge},
		"payload":      {bigPayload, ErrMalformed}, // the file does not hold it
		"gzip bomb":    {gzipped(make([]byte, 4<<20)), ErrNotBundle},
		"lim manifest": {withManifestLen(good, DefaultMaxManifest+1), ErrTooLarge},
	} {
		data := tt.data
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Read(bytes.NewReader(data), int64(len(data)), Limits{MaxPayload: 1 << 40})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tt.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: reading allocated %d bytes (%v)", name, n, err)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	var marks MemoryMarks
	read := func(m Manifest, payload []byte) *Bundle {
		data := build(t, m, payload, testKey)
		b, err := Read(bytes.NewReader(data), int64(len(data)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v := func(n uint64, desc string) *Bundle {
		m := testManifest()
		m.Version, m.Description = n, desc
		return read(m, scriptSrc)
	}
	v2, v3 := v(2, "a"), v(3, "a")
	for _, b := range []*Bundle{v2, v3} {
		if err := CheckReplay(&marks, b); err != nil {
			t.Fatalf("first apply of version %d: %v", b.Manifest.Version, err)
		}
		if err := Advance(&marks, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckReplay(&marks, v2); !errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), "version 3 was already applied") {
		t.Errorf("older version: %v", err)
	}
	if err := CheckReplay(&marks, v3); err != nil {
		t.Errorf("the same bundle again: %v", err)
	}
	if err := CheckReplay(&marks, v(3, "b")); !errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), "another manifest") {
		t.Errorf("version 3 reused with another manifest: %v", err)
	}
	other := testManifest()
	other.ID, other.Version = "other", 1
	if err := CheckReplay(&marks, read(other, scriptSrc)); err != nil {
		t.Errorf("another ID: %v", err)
	}
	// Advance never lowers.
	Advance(&marks, v2)
	if mk, _, _ := marks.Mark("greet-fix"); mk.Version != 3 {
		t.Errorf("mark lowered to %d", mk.Version)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key := filepath.Join(dir, "ops")
	pub, err := GenerateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{key: 0o600, key + ".pub": 0o644} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	if _, err := GenerateKey(key); !errors.Is(err, os.ErrExist) {
		t.Errorf("second GenerateKey over the same name: %v", err)
	}
	priv, err := ReadPrivateKey(key)
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("ReadPrivateKey = %v", err)
	}
	trusted, err := ReadTrusted(key + ".pub")
	if err != nil || len(trusted) != 1 || !trusted[0].Equal(pub) {
		t.Fatalf("ReadTrusted = %v, %v", trusted, err)
	}
	// Modes: a readable private key, a writable trust file, a writable
	// directory are refused, with the fix.
	os.Chmod(key, 0o640)
	var me *ModeError
	if _, err := ReadPrivateKey(key); !errors.As(err, &me) || !errors.Is(err, ErrInsecureMode) || !strings.Contains(err.Error(), "chmod go-rwx "+key) {
		t.Errorf("private key of mode 0640: %v", err)
	}
	os.Chmod(key, 0o600)
	os.Chmod(key+".pub", 0o666)
	if _, err := ReadTrusted(key + ".pub"); !errors.Is(err, ErrInsecureMode) || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("trust file of mode 0666: %v", err)
	}
	os.Chmod(key+".pub", 0o644)
	os.Chmod(dir, 0o777)
	if _, err := ReadTrusted(key + ".pub"); !errors.As(err, &me) || !me.Dir {
		t.Errorf("trust file in a world-writable directory: %v", err)
	}
	os.Chmod(dir, 0o700)
	// Wrong contents.
	os.WriteFile(filepath.Join(dir, "junk"), []byte("not a key"), 0o600)
	if _, err := ReadPrivateKey(filepath.Join(dir, "junk")); !errors.Is(err, ErrBadKey) {
		t.Errorf("junk private key: %v", err)
	}
	if _, err := ReadTrusted(filepath.Join(dir, "junk")); !errors.Is(err, ErrBadKey) {
		t.Errorf("junk trust file: %v", err)
	}
	if _, err := ReadTrusted(key); !errors.Is(err, ErrBadKey) {
		t.Errorf("a private key as trust file: %v", err)
	}
}

// TestOpen: Open refuses what is not a regular file, and reads a bundle
// from disk.
func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.hpatch")
	os.WriteFile(path, build(t, testManifest(), scriptSrc, testKey), 0o644)
	b, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CopyPayload(io.Discard); err != nil {
		t.Error(err)
	}
	b.Close()
	if _, err := Open(dir, Limits{}); err == nil {
		t.Error("Open of a directory succeeded")
	}
}

// BenchmarkVerify: what a host spends on a bundle of a 1 MiB payload
// before its loader sees it: read the framing and manifest, verify the
// signature, hash the payload while copying it.
func BenchmarkVerify(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1<<20)
	m := testManifest()
	m.Kind, m.Payload.Name = "custom", "x.bin"
	data := build(b, m, payload, testKey)
	pol := policy()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		bd, err := Read(bytes.NewReader(data), int64(len(data)), Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pol.Verify(bd); err != nil {
			b.Fatal(err)
		}
		if err := bd.CopyPayload(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
