package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/patchbuild"
)

// The .so files the tests load are built once, in TestMain, by the same
// code as `hotpatch patch build`, against this very test binary: it is the
// baseline. patchbuild reads its build information, so the patches get its
// flags (-race included) and module versions, and they load into it.
//
// Loading a .so can crash a process and can never be undone, so every test
// that loads one runs in a child: the test binary re-executed for that one
// test, with fixturesEnv naming the directory of the fixtures.
const fixturesEnv = "HOTPATCH_NATIVE_TEST_FIXTURES"

// fixtures is the directory of the built .so files; set by TestMain.
var fixtures string

// A fixture that fails to build leaves NAME.err beside it, with the reason,
// so that the tests that need it fail with the reason (in the parent or in
// a child) and the others still run.

func TestMain(m *testing.M) {
	if dir := os.Getenv(fixturesEnv); dir != "" {
		fixtures = dir
		if spec := os.Getenv(benchEnv); spec != "" {
			os.Exit(benchChild(spec))
		}
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "native-loader-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtures = dir
	flag.Parse()
	if needFixtures() {
		start := time.Now()
		buildFixtures(dir)
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "built fixtures in %v\n", time.Since(start).Round(time.Millisecond))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needFixtures reports whether this run may load a fixture: not when
// fuzzing (every fuzz worker would build them again), listing, or running
// no test.
func needFixtures() bool {
	get := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	switch {
	case get("test.fuzz") != "", get("test.fuzzworker") == "true", get("test.list") != "":
		return false
	case get("test.run") == "^$" && get("test.bench") == "":
		return false
	}
	return true
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(fixtures, name)
	if why, err := os.ReadFile(path + ".err"); err == nil {
		t.Fatalf("fixture %s did not build: %s", name, why)
	}
	return path
}

// skewOverlay writes an overlay that adds a file to package host and
// returns its path.
func skewOverlay(dir string) string {
	src := filepath.Join(dir, "skew.go")
	os.WriteFile(src, []byte("package host\n\n// Skew was not in the baseline.\nvar Skew = 1\n"), 0o644)
	abs, _ := filepath.Abs(filepath.Join("testdata", "host", "skew.go"))
	ov := filepath.Join(dir, "overlay.json")
	data, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: src}})
	os.WriteFile(ov, data, 0o644)
	return ov
}

// buildFixtures builds every fixture, two at a time (plugin links are
// mostly single-threaded; the test machine has two cores).
func buildFixtures(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	patch := func(src, out string, adjust func(*patchbuild.Plan)) func() error {
		return func() error {
			return buildPatch(ctx, self, filepath.Join("testdata", "patches", src), filepath.Join(dir, out), adjust)
		}
	}
	jobs := map[string]func() error{
		"v1.so":        patch("greet_v1.go", "v1.so", nil),
		"v2.so":        patch("greet_v2.go", "v2.so", nil),
		"v3.so":        patch("greet_v3.go", "v3.so", nil),
		"wrongtype.so": patch("wrongtype.go", "wrongtype.so", nil),
		"redirect.so":  patch("redirect.go", "redirect.so", nil),
		"redirect2.so": patch("redirect2.go", "redirect2.so", nil),
		"panicinit.so": patch("panicinit.go", "panicinit.so", nil),
		"shapes.so":    patch("shapes.go", "shapes.so", nil),
		// Written out with a byte order mark, CRLF line endings and no
		// newline at the end (see testdata/patches/odd.go).
		"odd.so": func() error {
			data, err := os.ReadFile(filepath.Join("testdata", "patches", "odd.go"))
			if err != nil {
				return err
			}
			data = append([]byte("\uFEFF"), bytes.TrimRight(bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), "\r\n")...)
			src := filepath.Join(dir, "odd.go")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				return err
			}
			return buildPatch(ctx, self, src, filepath.Join(dir, "odd.so"), nil)
		},
		// As a build older than the typed wrappers made it: no HotpatchWrap.
		"nowrap.so": patch("greet_v1.go", "nowrap.so", func(p *patchbuild.Plan) {
			for name, src := range p.Files {
				p.Files[name] = bytes.Replace(src, []byte("func HotpatchWrap("), []byte("func hotpatchOldWrap("), 1)
			}
		}),
		// Manifest and fingerprint are right, the HotpatchSlots export is not there.
		"noexport.so": patch("greet_v1.go", "noexport.so", func(p *patchbuild.Plan) {
			gen := p.Files[patchbuild.GeneratedFile]
			p.Files[patchbuild.GeneratedFile] = bytes.Replace(gen, []byte("var HotpatchSlots ="), []byte("var hotpatchSlots ="), 1)
		}),
		// Same fingerprint, but package host compiled from other source, as
		// if its files had been edited since the baseline build: an overlay
		// adds a file to it (overlays are not recorded in the build info).
		// Go's own check at plugin.Open refuses it.
		"skew.so": patch("greet_v1.go", "skew.so", func(p *patchbuild.Plan) {
			p.Flags = append(p.Flags, "-overlay="+skewOverlay(dir))
		}),
		// Built against another baseline: this test binary rebuilt with one
		// more build tag. Same dependencies, one setting differs.
		"other.so": func() error {
			other := filepath.Join(dir, "other.test")
			if err := buildOtherBaseline(ctx, other); err != nil {
				return err
			}
			return buildPatch(ctx, other, filepath.Join("testdata", "patches", "greet_v1.go"), filepath.Join(dir, "other.so"), nil)
		},
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for name, job := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := job(); err != nil {
				os.WriteFile(filepath.Join(dir, name+".err"), []byte(err.Error()), 0o644)
			}
		})
	}
	wg.Wait()
}

func buildPatch(ctx context.Context, baseline, src, out string, adjust func(*patchbuild.Plan)) error {
	p, err := patchbuild.Prepare(ctx, patchbuild.Options{Baseline: baseline, Source: src, Output: out})
	if err != nil {
		return err
	}
	if adjust != nil {
		adjust(p)
	}
	_, err = p.Run(ctx)
	return err
}

// buildOtherBaseline builds this package's test binary again with the
// running one's flags plus the tag hotpatch_other.
func buildOtherBaseline(ctx context.Context, out string) error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Errorf("no build info")
	}
	flags, env, err := patchbuild.Reproduce(info.Settings)
	if err != nil {
		return err
	}
	tags := "hotpatch_other"
	var args []string
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "-tags="); ok {
			tags = v + ",hotpatch_other"
			continue
		}
		args = append(args, f)
	}
	args = append([]string{"test", "-c", "-o", out, "-tags=" + tags}, args...)
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Env = append(os.Environ(), append(env, "GOFLAGS=")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// inChild reports whether the test runs in the child. In the parent it
// runs the test binary again for this one test, in a child process, and
// reports the child's result as its own.
func inChild(t *testing.T) bool {
	t.Helper()
	return inChildOf(t, func(*testing.T) string { return os.Args[0] })
}

// inChildOf is inChild with the executable of the child given by exe, run
// in the parent only: a copy of the test binary with something changed.
func inChildOf(t *testing.T, exe func(*testing.T) string) bool {
	t.Helper()
	if os.Getenv(fixturesEnv) != "" {
		return true
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(exe(t), args...)
	cmd.Env = append(os.Environ(), fixturesEnv+"="+fixtures)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("no tests to run")) {
		t.Fatalf("child process ran no test:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("child process:\n%s", out)
	}
	return false
}
