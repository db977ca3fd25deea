package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const attackScript = "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"yo \" + n }\n"

// TestAttackBundleCommandLine: flags that make no valid bundle are a
// command line the command cannot use (exit 2) and the message names the
// flag, not "malformed bundle"; nothing is left behind in the output
// directory.
func TestAttackBundleCommandLine(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key := filepath.Join(dir, "ops")
	if code := run(context.Background(), []string{"keygen", "-o", key}, new(bytes.Buffer), new(bytes.Buffer)); code != 0 {
		t.Fatalf("keygen: exit %d", code)
	}
	payload := filepath.Join(dir, "greet.go")
	os.WriteFile(payload, []byte(attackScript), 0o644)
	spaced := filepath.Join(dir, "my fix.go")
	os.WriteFile(spaced, []byte(attackScript), 0o644)
	os.Mkdir(filepath.Join(dir, "d.hpatch"), 0o755)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	cases := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"id with a path", []string{"--id", "../evil"}, "--id"},
		{"id with a NUL", []string{"--id", "a\x00b"}, "--id"},
		{"id in unicode", []string{"--id", "gr\u0435et"}, "--id"}, // Cyrillic e
		{"version 0", []string{"--version", "0"}, "--version"},
		{"expiry under a second", []string{"--expires", "500ms"}, "--expires"},
		{"output not .hpatch", []string{"-o", filepath.Join(out, "greet.txt")}, ".hpatch"},
		{"output is a directory", []string{"-o", filepath.Join(dir, "d.hpatch")}, "directory"},
		{"payload name no ID", []string{"-o", filepath.Join(out, "x.hpatch"), spaced}, "--id"},
	}
	for _, tt := range cases {
		args := append([]string{"bundle", "--key", key}, tt.args...)
		if !strings.HasSuffix(args[len(args)-1], ".go") {
			if !slicesContains(tt.args, "-o") {
				args = append(args, "-o", filepath.Join(out, "greet.hpatch"))
			}
			args = append(args, payload)
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), "malformed bundle") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message naming %s", tt.name, code, stderr.String(), tt.want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output directory keeps %v after the refusals", names)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestAttackOpenSSLKey: a key made by `openssl genpkey -algorithm
// ed25519` signs bundles, and its public half (`openssl pkey -pubout`)
// verifies them.
func TestAttackOpenSSLKey(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	key, pub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "ed25519", "-out", key).CombinedOutput(); err != nil {
		t.Skipf("openssl genpkey: %v\n%s", err, out)
	}
	os.Chmod(key, 0o600)
	if out, err := exec.Command(openssl, "pkey", "-in", key, "-pubout", "-out", pub).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	payload := filepath.Join(dir, "greet.go")
	os.WriteFile(payload, []byte(attackScript), 0o644)
	b := filepath.Join(dir, "greet.hpatch")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"bundle", "--key", key, "-o", b, payload}, new(bytes.Buffer), &stderr); code != 0 {
		t.Fatalf("bundle with an openssl key: exit %d: %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"verify", "--trust", pub, b}, new(bytes.Buffer), &stderr); code != 0 {
		t.Fatalf("verify with an openssl public key: exit %d: %s", code, stderr.String())
	}
}

// TestAttackMultiLineSignature: a script whose func type spans lines is
// bundled with its type on one line (the manifest's text holds no control
// characters), and a description with a terminal escape is refused as a
// command-line error.
func TestAttackMultiLineSignature(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	payload := filepath.Join(dir, "greet.go")
	os.WriteFile(payload, []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(\n\tn string,\n) string {\n\treturn \"yo \" + n\n}\n"), 0o644)
	out := filepath.Join(dir, "greet.hpatch")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"bundle", "--unsigned", "-o", out, payload}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, _ := os.ReadFile(out)
	if !bytes.Contains(data, []byte(`"type": "func(n string) string"`)) {
		t.Errorf("the manifest does not hold the type on one line:\n%s", data[:min(len(data), 600)])
	}
	stderr.Reset()
	code := run(context.Background(), []string{"bundle", "--unsigned", "--description", "fix\x1b[2J", "-o", out, payload}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--description") {
		t.Errorf("description with an escape: exit %d, %s", code, stderr.String())
	}
}
