package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// TestDescribeNativePayload: the slots and the baseline of a native
// payload are read from its manifest section. The shared object is made
// by the C compiler with only that section: what `hotpatch patch build`
// writes there, without the cost of building a plugin.
func TestDescribeNativePayload(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	t.Parallel()
	fp, err := fingerprint.Fingerprint()
	if err != nil {
		t.Skip(err)
	}
	text, err := manifest.Manifest{Kind: manifest.KindNative, ID: "p_1", Package: "example.com/app/.hotpatch/build/p_1",
		Slots: []manifest.Slot{{Name: "example.Greet"}, {Name: "example.Price"}}, Baseline: fp}.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := fmt.Sprintf("__attribute__((section(%q), used, aligned(1)))\nstatic const char m[] = %q;\n", manifest.Section, string(text))
	if err := os.WriteFile(filepath.Join(dir, "m.c"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(dir, "fix.so")
	if out, err := exec.Command(cc, "-shared", "-o", so, filepath.Join(dir, "m.c")).CombinedOutput(); err != nil {
		t.Skipf("cc -shared: %v\n%s", err, out)
	}
	data, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	m, err := describePayload(so, data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "native" || m.Baseline != fp.Hash() || len(m.Slots) != 2 || m.Slots[0].Name != "example.Greet" {
		t.Errorf("described %+v", m)
	}
	// A shared object without the section is not a native patch.
	os.WriteFile(filepath.Join(dir, "m.c"), []byte("int x;\n"), 0o644)
	if out, err := exec.Command(cc, "-shared", "-o", so, filepath.Join(dir, "m.c")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, _ = os.ReadFile(so)
	if _, err := describePayload(so, data); err == nil || !strings.Contains(err.Error(), "no .hotpatch section") {
		t.Errorf("a .so without the section: %v", err)
	}
	// Text named .so, and a shared object cut short, are refused as the
	// native loader refuses them.
	for name, data := range map[string][]byte{"text.so": []byte("package main\n"), "cut.so": data[:len(data)/2]} {
		if _, err := describePayload(name, data); !errors.Is(err, manifest.ErrNotNative) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want ErrNotNative naming the file", name, err)
		}
	}
}

// TestBundleLean: package bundle, which the CLI links to sign and verify,
// imports nothing of hotpatch but the two small internal packages; the
// loader of bundles, which links the manager, lives apart
// (bundle/bundleloader).
func TestBundleLean(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const mod = "github.com/hotpatch-go/hotpatch"
	out, err := exec.Command("go", "list", "-deps", mod+"/bundle").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{mod + "/bundle": true, mod + "/internal/patchfile": true, mod + "/internal/slotname": true}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, mod+"/") && !allowed[dep] {
			t.Errorf("package bundle depends on %s", dep)
		}
	}
}
