package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackFoldedKeys: encoding/json matches a key to a field by Unicode
// case folding, so "ſlots" (U+017F, a lower-case letter) sets Slots. A
// manifest holding "slots" and "ſlots" means one thing to this reader
// (the last) and another to a reader that compares keys exactly: the same
// signed bytes would name two manifests. Every key must be one of the
// schema's, byte for byte.
func TestAttackFoldedKeys(t *testing.T) {
	t.Parallel()
	good := build(t, testManifest(), scriptSrc, testKey)
	b, err := Read(bytes.NewReader(good), int64(len(good)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"long s after slots":  bytes.Replace(b.Raw, []byte(`"created"`), []byte("\"\u017flots\": [],\n  \"created\""), 1),
		"long s before slots": bytes.Replace(b.Raw, []byte(`"slots": [`), []byte("\"\u017flots\": [], \"slots\": ["), 1),
		"long s alone":        bytes.Replace(b.Raw, []byte(`"slots": [`), []byte("\"\u017flots\": ["), 1),
		"escaped long s":      bytes.Replace(b.Raw, []byte(`"slots": [`), []byte(`"\u017flots": [`), 1),
		"in the payload":      bytes.Replace(b.Raw, []byte(`"size"`), []byte("\"\u017fize\""), 1),
	}
	for name, raw := range cases {
		if bytes.Equal(raw, b.Raw) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		m, err := ParseManifest(raw)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseManifest = %d slots, %v; want ErrMalformed", name, len(m.Slots), err)
		} else if !strings.Contains(err.Error(), "\u017f") {
			t.Errorf("%s: error %q does not name the key", name, err)
		}
	}
}

// TestAttackBadTrustedKey: a trusted key of the wrong length (a Policy
// built from configuration, not from ReadTrusted) must not let a bundle
// that names its key ID panic the host in ed25519.Verify.
func TestAttackBadTrustedKey(t *testing.T) {
	t.Parallel()
	bad := ed25519.PublicKey(make([]byte, 31))
	data := build(t, testManifest(), scriptSrc, testKey)
	b, err := Read(bytes.NewReader(data), int64(len(data)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b.Signature.KeyID = KeyIDOf(bad)
	for _, require := range []bool{true, false} {
		pol := &Policy{Trusted: []ed25519.PublicKey{bad}, RequireSigned: require, Now: policy().Now}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("RequireSigned=%v: Verify panicked: %v", require, r)
				}
			}()
			if _, err := pol.Verify(b); !errors.Is(err, ErrBadKey) {
				t.Errorf("RequireSigned=%v: Verify = %v, want ErrBadKey", require, err)
			}
		}()
	}
}

// TestAttackKeyFileThroughSymlink: a trust file that is a link into a
// directory others may write is as open as a file in that directory: the
// check must judge where the file is, not where the link is.
func TestAttackKeyFileThroughSymlink(t *testing.T) {
	t.Parallel()
	safe := t.TempDir()
	os.Chmod(safe, 0o700)
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o700)
	if _, err := GenerateKey(filepath.Join(open, "ops")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	for _, name := range []string{"ops", "ops.pub"} {
		if err := os.Symlink(filepath.Join(open, name), filepath.Join(safe, name)); err != nil {
			t.Fatal(err)
		}
	}
	var me *ModeError
	if _, err := ReadTrusted(filepath.Join(safe, "ops.pub")); !errors.As(err, &me) || me.Path != open {
		t.Errorf("trust file linked into a world-writable directory: %v", err)
	}
	if _, err := ReadPrivateKey(filepath.Join(safe, "ops")); !errors.As(err, &me) || me.Path != open {
		t.Errorf("private key linked into a world-writable directory: %v", err)
	}
}

// TestAttackKeyFileOwnedByAnother: a trust file of mode 0644 owned by
// another user is one that user can chmod and rewrite; sshd's StrictModes
// refuses it, and so must we. Needs root to make such a file.
func TestAttackKeyFileOwnedByAnother(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key := filepath.Join(dir, "ops")
	if _, err := GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key+".pub", 65534, 65534); err != nil {
		t.Skip(err)
	}
	if _, err := ReadTrusted(key + ".pub"); !errors.Is(err, ErrInsecureMode) || !strings.Contains(err.Error(), "owned by") {
		t.Errorf("trust file owned by uid 65534: %v", err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if _, err := GenerateKey(filepath.Join(sub, "k")); err != nil {
		t.Fatal(err)
	}
	os.Chown(sub, 65534, 65534)
	if _, err := ReadTrusted(filepath.Join(sub, "k.pub")); !errors.Is(err, ErrInsecureMode) || !strings.Contains(err.Error(), "owned by") {
		t.Errorf("trust file in a directory owned by uid 65534: %v", err)
	}
}

// TestAttackTrustFileBrokenBlock: a trust file whose second key block is
// damaged must not load as a file of one key: the operator believes both
// are trusted. Junk lines between blocks (comments) stay allowed.
func TestAttackTrustFileBrokenBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if _, err := GenerateKey(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.pub"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.pub"))
	write := func(name string, parts ...[]byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, bytes.Join(parts, nil), 0o644)
		return p
	}
	ok := write("ok.pub", []byte("# ops keys\n"), a, []byte("\n# second\n"), b, []byte("trailing note\n"))
	if keys, err := ReadTrusted(ok); err != nil || len(keys) != 2 {
		t.Errorf("two keys with comment lines: %d keys, %v", len(keys), err)
	}
	broken := bytes.Replace(b, []byte("MCowBQYDK2Vw"), []byte("MCow!!YDK2Vw"), 1)
	if bytes.Equal(broken, b) {
		t.Fatal("did not break the block")
	}
	for name, p := range map[string]string{
		"broken second block": write("broken.pub", a, broken),
		"broken first block":  write("broken1.pub", broken, a),
		"cut last block":      write("cut.pub", a, b[:len(b)-10]),
	} {
		if keys, err := ReadTrusted(p); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %d keys, %v; want ErrBadKey", name, len(keys), err)
		}
	}
}

// TestAttackNumbersAndSignatures: numbers out of range, a signature
// moved from another manifest of the same key, and the replay message at
// the last version.
func TestAttackNumbersAndSignatures(t *testing.T) {
	t.Parallel()
	good := build(t, testManifest(), scriptSrc, testKey)
	b, err := Read(bytes.NewReader(good), int64(len(good)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{
		"version 2^64":     bytes.Replace(b.Raw, []byte(`"version": 2`), []byte(`"version": 18446744073709551616`), 1),
		"version negative": bytes.Replace(b.Raw, []byte(`"version": 2`), []byte(`"version": -1`), 1),
		"version float":    bytes.Replace(b.Raw, []byte(`"version": 2`), []byte(`"version": 2.0`), 1),
		"size negative":    bytes.Replace(b.Raw, []byte(`"size": 94`), []byte(`"size": -94`), 1),
		"size 2^63":        bytes.Replace(b.Raw, []byte(`"size": 94`), []byte(`"size": 9223372036854775808`), 1),
		"unicode id":       bytes.Replace(b.Raw, []byte(`"greet-fix"`), []byte("\"gr\u0435et-fix\""), 1),
		"NUL in name":      bytes.Replace(b.Raw, []byte(`"greet.go"`), []byte(`"greet\u0000.go"`), 1),
		"slash in name":    bytes.Replace(b.Raw, []byte(`"greet.go"`), []byte(`"a/greet.go"`), 1),
	} {
		if bytes.Equal(raw, b.Raw) {
			t.Fatalf("%s: no replacement", name)
		}
		if _, err := ParseManifest(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}

	// A signature of this key over another manifest, moved onto this one.
	other := testManifest()
	other.Version = 3
	donor := build(t, other, scriptSrc, testKey)
	db, _ := Read(bytes.NewReader(donor), int64(len(donor)), Limits{})
	b.Signature = db.Signature
	if _, err := policy().Verify(b); !errors.Is(err, ErrManifestTampered) {
		t.Errorf("signature moved from another manifest: %v", err)
	}

	// At the highest version there is no next one to sign: say so.
	var marks MemoryMarks
	top := testManifest()
	top.Version = ^uint64(0)
	tb, _ := Read(bytes.NewReader(build(t, top, scriptSrc, testKey)), int64(len(build(t, top, scriptSrc, testKey))), Limits{})
	if err := Advance(&marks, tb); err != nil {
		t.Fatal(err)
	}
	old, _ := Read(bytes.NewReader(good), int64(len(good)), Limits{})
	if err := CheckReplay(&marks, old); !errors.Is(err, ErrReplay) || strings.Contains(err.Error(), "as version 0") {
		t.Errorf("replay under the highest version: %v", err)
	}
}

// TestAttackEncryptedKey: an encrypted private key (openssl genpkey
// -aes256) is refused with a message that says how to use it.
func TestAttackEncryptedKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	p := filepath.Join(dir, "enc")
	os.WriteFile(p, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhV\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	if _, err := ReadPrivateKey(p); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted key: %v", err)
	}
}

// TestAttackDirectoryInOpenParent: a directory of mode 0700 is no
// protection when its parent lets others write without the sticky bit:
// they can rename it away and put their own in its place (with what the
// host then loads). CheckMode judges a directory's parent as it does a
// file's.
func TestAttackDirectoryInOpenParent(t *testing.T) {
	t.Parallel()
	parent := filepath.Join(t.TempDir(), "open")
	os.Mkdir(parent, 0o777)
	os.Chmod(parent, 0o777)
	dir := filepath.Join(parent, "patches")
	os.Mkdir(dir, 0o700)
	var me *ModeError
	if err := CheckMode(dir, 0o022); !errors.As(err, &me) || me.Path != parent {
		t.Errorf("directory in a world-writable parent: %v", err)
	}
	os.Chmod(parent, 0o777|os.ModeSticky)
	if err := CheckMode(dir, 0o022); err != nil {
		t.Errorf("directory in a sticky parent: %v", err)
	}
}

// TestAttackRefusalsSayWhatToDo: each refusal an operator meets at a
// push says what to do about it, not only what is wrong.
func TestAttackRefusalsSayWhatToDo(t *testing.T) {
	t.Parallel()
	good := build(t, testManifest(), scriptSrc, testKey)
	mlen := int(binary.BigEndian.Uint32(good[len(magic):]))
	payloadAt := fixedHead + mlen + 2 + sigLen
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x20; return b }
	for name, tt := range map[string]struct {
		data []byte
		fix  string
	}{
		"untrusted":         {build(t, testManifest(), scriptSrc, otherKey), "trust file"},
		"tampered manifest": {flip(fixedHead + bytes.Index(good[fixedHead:], []byte("friendlier"))), "hotpatch bundle"},
		"tampered payload":  {flip(payloadAt + 3), "hotpatch bundle"},
	} {
		if err := check(policy(), tt.data); err == nil || !strings.Contains(err.Error(), tt.fix) {
			t.Errorf("%s: %v; want it to say %q", name, err, tt.fix)
		}
	}
}

// TestAttackKeygenInOpenDirectory: a key pair written where others may
// replace it is one every later command refuses; GenerateKey refuses to
// write it there in the first place, and writes nothing.
func TestAttackKeygenInOpenDirectory(t *testing.T) {
	t.Parallel()
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := GenerateKey(filepath.Join(open, "ops")); !errors.Is(err, ErrInsecureMode) {
		t.Errorf("keygen into a world-writable directory: %v", err)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Errorf("keygen left %d files behind", len(entries))
	}
}

// TestAttackTerminalTricks: the manifest's text is for humans, and
// `hotpatch verify` prints it: control characters (a terminal escape that
// clears the screen or rewrites a line) and bidirectional overrides
// (which make "evil" read as "live") are refused in every text field.
func TestAttackTerminalTricks(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*Manifest){
		"escape in author":      func(m *Manifest) { m.Author = "ops\x1b[2J\x1b[Hroot" },
		"newline in desc":       func(m *Manifest) { m.Description = "fix\n  id           other" },
		"bidi override in desc": func(m *Manifest) { m.Description = "friendly \u202eliveevil\u202c" },
		"isolate in slot type":  func(m *Manifest) { m.Slots[0].Type = "func(string) \u2067string" },
		"carriage return":       func(m *Manifest) { m.Author = "alice\rmallory" },
	} {
		m := testManifest()
		set(&m)
		var buf bytes.Buffer
		if _, err := Write(&buf, m, scriptSrc, testKey); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Write = %v, want ErrMalformed", name, err)
		}
	}
	m := testManifest()
	m.Author, m.Description = "Zoë Ødegård", "corrige l'accueil — 修正 👍"
	var buf bytes.Buffer
	if _, err := Write(&buf, m, scriptSrc, testKey); err != nil {
		t.Errorf("plain Unicode text: %v", err)
	}
}

// TestAttackPrivateKeyAsTrustFile: a private key given to a host as its
// trust file is refused, and the message says to keep it with the signer.
func TestAttackPrivateKeyAsTrustFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key := filepath.Join(dir, "ops")
	if _, err := GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTrusted(key); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "ops.pub") {
		t.Errorf("private key as trust file: %v", err)
	}
}

// TestAttackZeroExpiry: "expires": "0001-01-01T00:00:00Z" is a time long
// past to a reader that takes it literally, and "never" to one that
// treats the zero time as absent: the same signed bytes must not mean
// both. An expiry is absent, or a real time after the creation.
func TestAttackZeroExpiry(t *testing.T) {
	t.Parallel()
	good := build(t, testManifest(), scriptSrc, testKey)
	b, _ := Read(bytes.NewReader(good), int64(len(good)), Limits{})
	raw := bytes.Replace(b.Raw, []byte(`"created"`), []byte(`"expires": "0001-01-01T00:00:00Z", "created"`), 1)
	if _, err := ParseManifest(raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero expiry: %v, want ErrMalformed", err)
	}
}

// TestAttackPublicKeyAsSigningKey: the public half given to sign with is
// refused with a message that names the private file to use.
func TestAttackPublicKeyAsSigningKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key := filepath.Join(dir, "ops")
	if _, err := GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key+".pub", 0o600)
	if _, err := ReadPrivateKey(key + ".pub"); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "public key") {
		t.Errorf("public key to sign with: %v", err)
	}
}

// TestAttackPrivateKeyFileWithExtraBlocks: a private key file holding a
// second block (another key, a certificate) is ambiguous about what
// signs: refused, not signed with whichever comes first.
func TestAttackPrivateKeyFileWithExtraBlocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, k := range []string{a, b} {
		if _, err := GenerateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	ka, _ := os.ReadFile(a)
	kb, _ := os.ReadFile(b)
	pub, _ := os.ReadFile(a + ".pub")
	for name, data := range map[string][]byte{
		"two private keys":       append(bytes.Clone(ka), kb...),
		"key and its public key": append(bytes.Clone(ka), pub...),
	} {
		p := filepath.Join(dir, "two")
		os.WriteFile(p, data, 0o600)
		if _, err := ReadPrivateKey(p); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	p := filepath.Join(dir, "commented")
	os.WriteFile(p, append([]byte("# ops signing key\n"), ka...), 0o600)
	if _, err := ReadPrivateKey(p); err != nil {
		t.Errorf("key with a comment line: %v", err)
	}
}
