package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// KeyIDSize is the size of a [KeyID].
const KeyIDSize = 8

// KeyID names a public key in a signature block: the first 8 bytes of the
// SHA-256 of the raw 32-byte key. It picks the trusted key to verify with,
// so that an unknown signer ([ErrUntrusted]) is told apart from a bad
// signature ([ErrManifestTampered]); it is not itself trusted.
type KeyID [KeyIDSize]byte

// KeyIDOf returns the ID of pub.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	var id KeyID
	copy(id[:], sum[:])
	return id
}

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// maxKeyFile bounds a key or trust file: a trust file of a few hundred
// public keys.
const maxKeyFile = 256 << 10

// GenerateKey writes a new ed25519 key pair: the private key to path
// (PKCS #8 in PEM, mode 0600) and the public key to path+".pub" (PKIX in
// PEM, mode 0644), the formats `openssl pkey` reads. It refuses to
// overwrite either file, and to write into a directory that
// [ReadPrivateKey] would refuse. It returns the public key.
func GenerateKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	// Where others may replace the keys, every command that reads them
	// refuses them: refuse to write them there.
	if err := CheckMode(filepath.Dir(path), 0o022); err != nil {
		return nil, fmt.Errorf("bundle: key directory: %w", err)
	}
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("bundle: %s exists: %w (remove it first, or choose another name)", p, fs.ErrExist)
		}
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(path)
		return nil, err
	}
	return pub, nil
}

// writeNew creates path with data and mode, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask
		f.Close()
		os.Remove(path)
		return fmt.Errorf("bundle: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// ReadPrivateKey reads a private key written by [GenerateKey]. The file
// is refused if others than its owner may read or write it, or if its
// directory is writable by others ([ErrInsecureMode]).
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := readKeyFile(path, 0o077)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block != nil && bytes.Contains(rest, []byte("-----BEGIN ")) {
		return nil, fmt.Errorf("bundle: %s: %w: more than one PEM block; a signing key file holds one private key alone", path, ErrBadKey)
	}
	if block != nil && block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("bundle: %s: %w: the key is encrypted, which this command cannot use; write it decrypted to a file of mode 0600 (openssl pkey -in %s -out NAME) and sign with that", path, ErrBadKey, path)
	}
	if block != nil && block.Type == "PUBLIC KEY" {
		return nil, fmt.Errorf("bundle: %s: %w: a public key, which only checks signatures; sign with the private key (NAME, not NAME.pub)", path, ErrBadKey)
	}
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("bundle: %s: %w: want a PEM \"PRIVATE KEY\" block (written by `hotpatch keygen`)", path, ErrBadKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w: %w", path, ErrBadKey, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("bundle: %s: %w: a %T, want an ed25519 key", path, ErrBadKey, k)
	}
	return priv, nil
}

// ReadTrusted reads the public keys of a trust file: one or more PEM
// "PUBLIC KEY" blocks (a NAME.pub written by [GenerateKey], or several
// concatenated; lines outside the blocks are comments). A block that does
// not decode is an error, never skipped. The file is refused if others than its owner may write
// it, or if its directory is writable by others ([ErrInsecureMode]): who
// can write it can make the host trust any key.
func ReadTrusted(path string) ([]ed25519.PublicKey, error) {
	data, err := readKeyFile(path, 0o022)
	if err != nil {
		return nil, err
	}
	// pem.Decode skips a block it cannot decode and goes on: count the
	// blocks begun, so that a damaged key is an error, not a key quietly
	// missing from those the operator believes trusted.
	begun := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("-----BEGIN ")) {
			begun++
		}
	}
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("bundle: %s: %w: a private key; a host trusts the public half (%s.pub of `hotpatch keygen`), and the private key stays with the signer",
				path, ErrBadKey, path)
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("bundle: %s: %w: a PEM %q block, want \"PUBLIC KEY\"", path, ErrBadKey, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bundle: %s: %w: %w", path, ErrBadKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("bundle: %s: %w: a %T, want an ed25519 key", path, ErrBadKey, k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("bundle: %s: %w: no PEM \"PUBLIC KEY\" block (a NAME.pub written by `hotpatch keygen`)", path, ErrBadKey)
	}
	if begun != len(keys) {
		return nil, fmt.Errorf("bundle: %s: %w: %d PEM blocks begin, %d decode: a key block is damaged or cut (copy it again from its NAME.pub)",
			path, ErrBadKey, begun, len(keys))
	}
	return keys, nil
}

func readKeyFile(path string, forbidden fs.FileMode) ([]byte, error) {
	// A link is judged by where it leads: a key file linked into a
	// directory others may write is as open as one put there.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := CheckMode(real, forbidden); err != nil {
		return nil, err
	}
	data, _, err := patchfile.ReadFile(real, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return data, nil
}

// ModeError is a file or directory whose permissions let others change
// (or read) what it guards. It matches [ErrInsecureMode].
type ModeError struct {
	Path string
	Mode fs.FileMode
	Dir  bool        // Path is a directory (the one checked, or that of the file checked)
	Bits fs.FileMode // the permission bits that must be off
	// WrongOwner is set when what is wrong is who owns Path: UID, a user
	// other than root and the process's, who may chmod it and write it.
	WrongOwner bool
	UID        int
}

func (e *ModeError) Error() string {
	what, may := "file", "write"
	if e.Dir {
		what = "directory"
	}
	if e.WrongOwner {
		me := os.Geteuid()
		return fmt.Sprintf("%v: %s %s is owned by uid %d, who may change it; want uid %d or root (fix: chown %d %s, or use a path of your own)",
			ErrInsecureMode, what, e.Path, e.UID, me, me, e.Path)
	}
	if e.Bits&0o044 != 0 {
		may = "read or write"
	}
	return fmt.Sprintf("%v: %s %s has mode %04o, which lets others than its owner %s it (fix: chmod %s %s)",
		ErrInsecureMode, what, e.Path, e.Mode.Perm(), may, modeFix(e.Bits), e.Path)
}

func (e *ModeError) Unwrap() error { return ErrInsecureMode }

func modeFix(bits fs.FileMode) string {
	switch bits {
	case 0o077:
		return "go-rwx"
	default:
		return "go-w"
	}
}

// CheckMode refuses, with a [*ModeError], a path whose permission bits
// include any of forbidden (0o022: group- or world-writable; 0o077: any
// access but the owner's), whose directory (for a directory: its
// parent) is group- or world-writable without the sticky bit, or which (or whose directory) is owned by
// another user than root and the process's effective user, as sshd's
// StrictModes does for key files. A link is checked as the link, its
// directory as the link's: resolve it first to judge where it leads. Use
// it for a patch directory, a state directory, a key file. On Windows,
// where modes do not say who may write, it checks only that path exists.
func CheckMode(path string, forbidden fs.FileMode) error {
	return checkMode(path, forbidden)
}
