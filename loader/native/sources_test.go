package native_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/loader/native"
)

const hostPkg = "github.com/hotpatch-go/hotpatch/loader/native/testdata/host"

// withSources returns a copy of the test binary carrying the source
// record that edit makes of v1.so's own: a baseline built with `hotpatch
// build` from the tree the patch was built from, or from another.
func withSources(edit func(fingerprint.Sources)) func(*testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		m, err := native.ReadManifest(fixture(t, "v1.so"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Sources[hostPkg] == "" {
			t.Fatalf("v1.so records no source of %s: %v", hostPkg, m.Sources)
		}
		edit(m.Sources)
		exe := filepath.Join(t.TempDir(), "baseline.test")
		src, err := os.Open(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
		if err := manifest.WriteSources(exe, m.Sources); err != nil {
			t.Fatal(err)
		}
		return exe
	}
}

// TestRefuseSourceDrift: the running binary was built from a tree where
// package host held other source than the tree the patch was built from
// (a function body edited in between changes no module version, no
// setting and no export data, so neither the fingerprint nor Go's own
// check sees it). The loader compares the source records and refuses,
// naming the package.
func TestRefuseSourceDrift(t *testing.T) {
	if !inChildOf(t, withSources(func(s fingerprint.Sources) { s[hostPkg] = "sha256:0000000000000000edited" })) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "v1.so"))
	var be *native.BaselineError
	if !errors.As(err, &be) || len(be.Differences) != 1 || be.Differences[0].What != "source of package "+hostPkg {
		t.Fatalf("err = %v, want a *BaselineError naming the source of package host", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "baseline step") {
		t.Errorf("message is not one line that says what to do: %q", err)
	}
	if used, _ := e.l.Memory(); used != 0 {
		t.Errorf("Memory() = %d: a refused patch was opened", used)
	}
}

// TestLoadSameSources: a binary whose record matches the patch's loads it.
func TestLoadSameSources(t *testing.T) {
	if !inChildOf(t, withSources(func(fingerprint.Sources) {})) {
		return
	}
	var logs bytes.Buffer
	e := newEnv(t, native.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	e.apply(t, e.load(t, fixture(t, "v1.so")))
	if got := e.slots.Greet.Load()("x"); got != "v1, x" {
		t.Fatalf("Greet = %q", got)
	}
	if strings.Contains(logs.String(), "source record") {
		t.Errorf("warned of a missing source record:\n%s", logs.String())
	}
}

// TestWarnNoSourceRecord: in a binary without a source record (a plain go
// build, as this test binary), patches load and the loader says once what
// cannot be checked.
func TestWarnNoSourceRecord(t *testing.T) {
	if !inChild(t) {
		return
	}
	var logs bytes.Buffer
	e := newEnv(t, native.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	dir := t.TempDir()
	e.load(t, drop(t, "v1.so", dir, "a.so"))
	e.load(t, drop(t, "v2.so", dir, "b.so"))
	if n := strings.Count(logs.String(), "level=WARN msg=\"native: the running binary carries no source record"); n != 1 {
		t.Errorf("warned %d times of the missing record, want once:\n%s", n, logs.String())
	}
}

// TestWarnSameBuildTwice: the same .so under two names is said, once.
func TestWarnSameBuildTwice(t *testing.T) {
	if !inChild(t) {
		return
	}
	var logs bytes.Buffer
	e := newEnv(t, native.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	dir := t.TempDir()
	a, b := drop(t, "v1.so", dir, "a.so"), drop(t, "v1.so", dir, "b.so")
	e.load(t, a)
	e.load(t, a) // the same name again: a re-apply, nothing to say
	if strings.Contains(logs.String(), "another name") {
		t.Fatalf("warned on a reload under the same name:\n%s", logs.String())
	}
	e.load(t, b)
	if !strings.Contains(logs.String(), "already loaded under another name") || !strings.Contains(logs.String(), a) {
		t.Errorf("no warning naming %s:\n%s", a, logs.String())
	}
}

// withTail returns a copy of the test binary with tail appended.
func withTail(tail string) func(*testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		data, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(t.TempDir(), "baseline.test")
		if err := os.WriteFile(exe, append(data, tail...), 0o755); err != nil {
			t.Fatal(err)
		}
		return exe
	}
}

// TestRefuseBadSourceRecord: a running binary whose source record is there
// but cannot be read (its length lies; it was damaged after the build)
// refuses native patches, saying so, rather than load them unchecked as if
// it had none.
func TestRefuseBadSourceRecord(t *testing.T) {
	if !inChildOf(t, withTail("hotpatch-manifest v1\n\xff\xff\xff\xff\xff\xff\x00\x00\x00hotpatch-manifest\n")) {
		return
	}
	e := newEnv(t, native.Options{})
	_, err := e.l.Load(context.Background(), e.mgr, fixture(t, "v1.so"))
	if !errors.Is(err, manifest.ErrBad) || !errors.Is(err, native.ErrBaselineMismatch) {
		t.Fatalf("err = %v, want manifest.ErrBad and ErrBaselineMismatch", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "hotpatch build") {
		t.Errorf("message is not one line that says what to do: %q", msg)
	}
	if used, _ := e.l.Memory(); used != 0 {
		t.Errorf("Memory() = %d: a refused patch was opened", used)
	}
}
