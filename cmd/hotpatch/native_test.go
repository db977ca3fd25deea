package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
	"github.com/hotpatch-go/hotpatch/internal/testbuild"
)

// testFlags returns the go build flags of the test binary, so that what the
// tests build shares its compiled packages (and -race).
func testFlags(t *testing.T) []string {
	t.Helper()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	flags, _, err := patchbuild.Reproduce(info.Settings)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(flags, func(f string) bool { return strings.HasPrefix(f, "-gcflags") })
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := runCLI2(t, args...)
	return stdout, err
}

// runCLI2 is runCLI that returns the standard error too.
func runCLI2(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	_, err := execute(context.Background(), args, &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Logf("hotpatch %s: stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

func runDemo(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBuildAndPatchNative is the whole native life through the CLI: build
// a baseline, build a patch for it, and have the baseline load it.
func TestBuildAndPatchNative(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a baseline and a plugin")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo")
	args := append([]string{"build", "-o", bin}, testFlags(t)...)
	out, err := runCLI(t, append(args, "./testdata/demo")...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := fingerprint.FingerprintOf(info)
	if !strings.Contains(out, rec.Hash()[:16]) || !strings.Contains(out, "source of") {
		t.Errorf("build output %q does not show the fingerprint %s", out, rec.Hash()[:16])
	}
	if v, _ := rec.Setting("-gcflags"); v != "github.com/hotpatch-go/hotpatch/...=-l" {
		t.Errorf("-gcflags recorded = %q, want the main module without inlining", v)
	}
	if v, _ := rec.Setting("CGO_ENABLED"); v != "1" {
		t.Errorf("CGO_ENABLED = %q", v)
	}
	if got := runDemo(t, bin); got != "hello, world" {
		t.Fatalf("baseline says %q", got)
	}

	so := filepath.Join(dir, "greet.so")
	out, stderr, err := runCLI2(t, "patch", "build", "--baseline", bin, "-o", so, "testdata/patches/greet.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "as a plugin for") || !strings.Contains(stderr, "plugin mode") {
		t.Errorf("patch build did not say what it does and why the first build is slow:\n%s", stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("warnings for a baseline of hotpatch build:\n%s", stderr)
	}
	if !strings.Contains(out, "demo.Greet") {
		t.Errorf("patch build output %q does not list the slot", out)
	}
	m := readManifest(t, so)
	if m.Baseline.Hash() != rec.Hash() || !slices.Equal(m.SlotNames(), []string{"demo.Greet"}) {
		t.Errorf("manifest = %+v", m)
	}
	if got := runDemo(t, bin, so); got != "patched, WORLD" {
		t.Fatalf("patched baseline says %q", got)
	}
	if _, err := os.Stat(filepath.Join("..", "..", patchbuild.WorkDir, m.ID)); !os.IsNotExist(err) {
		t.Errorf("build directory %s left behind (%v)", m.ID, err)
	}

	// The same server built with a plain go build refuses the patch, says
	// which flag differs, and asks whether it was built with hotpatch build.
	plain := filepath.Join(dir, "plain")
	if err := testbuild.Build(".", plain, "./testdata/demo"); err != nil {
		t.Fatal(err)
	}
	got := runDemo(t, plain, so)
	if !strings.Contains(got, "refused:") || !strings.Contains(got, "build setting -gcflags") ||
		!strings.Contains(got, "built with `hotpatch build`?") {
		t.Errorf("a plain go build says:\n%s", got)
	}
	t.Logf("a plain go build says:\n%s", got)
	// And patch build warns of such a baseline.
	_, stderr, err = runCLI2(t, "patch", "build", "--baseline", plain, "-o", filepath.Join(dir, "plain.so"), "testdata/patches/greet.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "no record of its packages' source") || !strings.Contains(stderr, "without -l") {
		t.Errorf("patch build against a plain go build gave no warnings:\n%s", stderr)
	}
}

func TestPatchBuildUsage(t *testing.T) {
	for _, args := range [][]string{
		{"patch", "build"},
		{"patch", "build", "x.go"},
		{"patch", "build", "--baseline", "bin"},
		{"patch", "build", "--kind", "process", "--baseline", "bin", "x.go"},
		{"patch", "build", "--nope", "x.go"},
	} {
		if _, err := runCLI(t, args...); !errors.Is(err, errBadArgs) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	// The file may come before the flags.
	_, err := runCLI(t, "patch", "build", filepath.Join(t.TempDir(), "missing.go"), "--baseline", "/nonexistent/bin")
	if err == nil || errors.Is(err, errBadArgs) {
		t.Errorf("err = %v, want a build error", err)
	}
}

func TestParseBuildArgs(t *testing.T) {
	tests := []struct {
		args             []string
		out, inline, pkg string
		flags            []string
		usageErr         bool
	}{
		{args: nil},
		{args: []string{"./cmd/server"}, pkg: "./cmd/server"},
		{args: []string{"-o", "bin/server", "-race", "./cmd/server"}, out: "bin/server", pkg: "./cmd/server", flags: []string{"-race"}},
		{args: []string{"-tags", "prod", "-o=srv", "-inline=all", "."}, out: "srv", inline: "all", pkg: ".", flags: []string{"-tags", "prod"}},
		{args: []string{"--inline", "none", "-ldflags", "-s -w"}, inline: "none", flags: []string{"-ldflags", "-s -w"}},
		{args: []string{"./a", "-race"}, usageErr: true},
		{args: []string{"-o"}, usageErr: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		out, inline := fs.String("o", "", ""), fs.String("inline", "", "")
		pos, err := parseBuildArgs(fs, tt.args)
		if tt.usageErr {
			if err == nil {
				t.Errorf("%q: no error, want one", tt.args)
			}
			continue
		}
		want := append([]string{tt.pkg, "--"}, tt.flags...)
		if tt.pkg == "" {
			want = want[1:]
		}
		if err != nil || *out != tt.out || *inline != tt.inline || !slices.Equal(pos, want) {
			t.Errorf("%q: got -o %q -inline %q %q, %v", tt.args, *out, *inline, pos, err)
		}
	}
}

// readManifest reads the manifest in the section of the native patch at
// path, as the loader does before it opens the file.
func readManifest(t *testing.T, path string) manifest.Manifest {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(manifest.Section)
	if sec == nil {
		t.Fatalf("%s: no %s section", path, manifest.Section)
	}
	text, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	var m manifest.Manifest
	if err := m.UnmarshalText(bytes.TrimRight(text, "\x00")); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}
