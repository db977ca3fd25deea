package patchbuild

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"github.com/hotpatch-go/hotpatch/loader"
)

func settings(kv ...string) []debug.BuildSetting {
	var out []debug.BuildSetting
	for i := 0; i < len(kv); i += 2 {
		out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestReproduce(t *testing.T) {
	tests := []struct {
		name       string
		in         []debug.BuildSetting
		flags, env []string
		err        error
	}{
		{
			name: "race binary",
			in: settings("-buildmode", "exe", "-compiler", "gc", "-race", "true", "CGO_ENABLED", "1",
				"CGO_CFLAGS", "", "GOARCH", "amd64", "GOOS", "linux", "GOAMD64", "v3", "DefaultGODEBUG", "x=1",
				"vcs", "git", "vcs.revision", "abc", "vcs.modified", "false"),
			flags: []string{"-race"},
			env:   []string{"CGO_ENABLED=1", "CGO_CFLAGS=", "GOARCH=amd64", "GOOS=linux", "GOAMD64=v3"},
		},
		{
			name: "per-package flags",
			in: settings("-buildmode", "pie", "-gcflags", "example.com/app/...=-l", "-ldflags", "-s -w -X main.v=1",
				"-tags", "prod,netgo", "-trimpath", "true", "-pgo", "/src/default.pgo", "CGO_ENABLED", "1", "GOEXPERIMENT", "arenas"),
			flags: []string{"-gcflags=example.com/app/...=-l", "-ldflags=-s -w -X main.v=1", "-tags=prod,netgo", "-trimpath", "-pgo=/src/default.pgo"},
			env:   []string{"CGO_ENABLED=1", "GOEXPERIMENT=arenas"},
		},
		{name: "no cgo", in: settings("CGO_ENABLED", "0"), err: ErrBaseline},
		{name: "cgo unknown", in: settings("-race", "true"), err: ErrBaseline},
		{name: "gccgo", in: settings("-compiler", "gccgo", "CGO_ENABLED", "1"), err: ErrBaseline},
		{name: "a plugin is no baseline", in: settings("-buildmode", "plugin", "CGO_ENABLED", "1"), err: ErrBaseline},
		{name: "unknown flag", in: settings("-frobnicate", "yes", "CGO_ENABLED", "1"), err: ErrBaseline},
	}
	for _, tt := range tests {
		flags, env, err := Reproduce(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(flags, tt.flags) || !slices.Equal(env, tt.env) {
			t.Errorf("%s:\n got %q %q %v\nwant %q %q", tt.name, flags, env, err, tt.flags, tt.env)
		}
	}
}

func TestSetEnv(t *testing.T) {
	got := setEnv([]string{"A=1", "GOFLAGS=-race", "B=2"}, "GOFLAGS=", "C=3")
	if want := []string{"A=1", "B=2", "GOFLAGS=", "C=3"}; !slices.Equal(got, want) {
		t.Errorf("setEnv = %q, want %q", got, want)
	}
}

func TestCString(t *testing.T) {
	if got, want := cString([]byte("a\"b\\c?\t\n\x00é")), `"a\042b\134c\077\t\n\000\303\251"`; got != want {
		t.Errorf("cString = %s, want %s", got, want)
	}
}

const redirectSource = `package patch

import "example.com/app/billing"

var HotpatchRedirects = map[string][2]any{
	"example.com/app/billing.Round": {billing.Round, Round},
}

func Round(x float64) float64 { return x }

//hotpatch:slot billing.Price
func Price(n int) int { return n }
`

func parse(t *testing.T, src string) *loader.Source {
	t.Helper()
	s, err := loader.Parse("/src/patch.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRewritePatch(t *testing.T) {
	s := parse(t, redirectSource)
	rs, err := redirectsOf(s)
	if err != nil || len(rs) != 1 || rs[0].name != "example.com/app/billing.Round" || rs[0].target != "billing.Round" || rs[0].line != 6 {
		t.Fatalf("redirectsOf = %+v, %v", rs, err)
	}
	out := rewritePatch("/src/patch.go", []byte(redirectSource), s, rs)
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", out, parser.ParseComments)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if f.Name.Name != "main" {
		t.Errorf("package %s, want main", f.Name.Name)
	}
	if !strings.HasPrefix(string(out), "//line /src/patch.go:1\npackage main\n") ||
		!strings.Contains(string(out), "//line /src/patch.go:6\nvar _ = hotpatchSameType(billing.Round, Round)\n") {
		t.Errorf("rewritten source:\n%s", out)
	}
}

func TestRedirectsOfRefuses(t *testing.T) {
	for name, decl := range map[string]string{
		"not a literal":   "var HotpatchRedirects = makeThem()",
		"no value":        "var HotpatchRedirects map[string][2]any",
		"computed key":    `var HotpatchRedirects = map[string][2]any{name: {a, b}}`,
		"not a pair":      `var HotpatchRedirects = map[string][2]any{"a.B": {a}}`,
		"empty":           `var HotpatchRedirects = map[string][2]any{}`,
		"not key: value":  `var HotpatchRedirects = [][2]any{{a, b}}`,
		"tab in the name": "var HotpatchRedirects = map[string][2]any{\"a\\tB\": {a, b}}",
	} {
		s := parse(t, "package patch\n\n"+decl+"\n\n//hotpatch:slot a.B\nfunc F() {}\n")
		if _, err := redirectsOf(s); !errors.Is(err, ErrSource) {
			t.Errorf("%s: err = %v, want ErrSource", name, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	rec, _ := fingerprint.FingerprintOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/app"},
		Settings: settings("CGO_ENABLED", "1")})
	m := manifest.Manifest{Kind: manifest.KindNative, ID: "p_1", Package: "example.com/app/.hotpatch/build/p_1", Source: "p.go", SourceSum: "sha256:00",
		Slots: []manifest.Slot{{Name: "billing.Price"}}, Baseline: rec}
	src, err := generate(m, map[string]string{"billing.Price": "Price"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), GeneratedFile, src, parser.ParseComments); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	for _, want := range []string{`__attribute__((section(".hotpatch")`, `"billing.Price": Price,`, "var HotpatchBaseline = ", "func hotpatchSameType["} {
		if !strings.Contains(string(src), want) {
			t.Errorf("generated file lacks %q:\n%s", want, src)
		}
	}
}

// TestMismatch: what a plugin's own build info may and may not differ in.
func TestMismatch(t *testing.T) {
	base := &debug.BuildInfo{
		GoVersion: "go1.26.8", Path: "example.com/app", Main: debug.Module{Path: "example.com/app", Version: "v1.2.3"},
		Deps:     []*debug.Module{{Path: "a.com/x", Version: "v1.0.0", Sum: "h1:x"}, {Path: "b.com/y", Version: "v2.0.0", Sum: "h1:y"}},
		Settings: settings("-buildmode", "exe", "-race", "true", "CGO_ENABLED", "1", "vcs.revision", "abc", "vcs.modified", "false"),
	}
	rec, _ := fingerprint.FingerprintOf(base)
	fine := &debug.BuildInfo{
		GoVersion: "go1.26.8", Path: "example.com/app/.hotpatch/build/p", Main: debug.Module{Path: "example.com/app", Version: "(devel)"},
		Deps:     []*debug.Module{{Path: "a.com/x", Version: "v1.0.0", Sum: "h1:x"}, {Path: "c.com/new", Version: "v0.1.0"}},
		Settings: settings("-buildmode", "plugin", "-race", "true", "CGO_ENABLED", "1"),
	}
	if d := mismatch(fine, rec); len(d) != 0 {
		t.Errorf("mismatch = %v, want none", d)
	}
	bad := *fine
	bad.Deps = []*debug.Module{{Path: "a.com/x", Version: "v1.0.1", Sum: "h1:z"}}
	bad.Settings = settings("-buildmode", "plugin", "CGO_ENABLED", "1")
	d := mismatch(&bad, rec)
	if len(d) != 2 || d[0].What != "dependency a.com/x" || d[1].What != "build setting -race" {
		t.Errorf("mismatch = %v, want the dependency and -race", d)
	}
}

// fakeGo writes a go command that answers "env GOVERSION" with version and
// "list -m" with a module.
func fakeGo(t *testing.T, version, module string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\ncase \"$1\" in\nenv) echo " + version + " ;;\nlist) printf '" + module + "\\t/src\\n' ;;\nesac\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrepareRefuses checks the refusals that come before any build: the
// baseline (here, this test binary) and the local toolchain and module.
func TestPrepareRefuses(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := debug.ReadBuildInfo()
	src := filepath.Join(t.TempDir(), "p.go")
	os.WriteFile(src, []byte("package p\n\n//hotpatch:slot a.B\nfunc F() {}\n"), 0o644)
	ctx := context.Background()
	for name, tt := range map[string]struct {
		opts Options
		want error
	}{
		"other toolchain": {Options{Baseline: self, Source: src, Go: fakeGo(t, "go1.99.0", info.Main.Path)}, ErrToolchain},
		"other module":    {Options{Baseline: self, Source: src, Go: fakeGo(t, info.GoVersion, "example.com/other")}, ErrModule},
		"not a Go binary": {Options{Baseline: src, Source: src, Go: fakeGo(t, info.GoVersion, info.Main.Path)}, ErrBaseline},
		"bad source":      {Options{Baseline: self, Source: self, Go: fakeGo(t, info.GoVersion, info.Main.Path)}, loader.ErrBinary},
		"nothing":         {Options{}, ErrSource},
	} {
		_, err := Prepare(ctx, tt.opts)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tt.want)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// A directory in no module is said to be in none, and the flag that
	// names the right one is given.
	_, err = Prepare(ctx, Options{Baseline: self, Source: src, Module: t.TempDir()})
	if msg := fmt.Sprint(err); !errors.Is(err, ErrModule) || !strings.Contains(msg, "is in no module") ||
		strings.Contains(msg, "command-line-arguments") || !strings.Contains(msg, "--module") {
		t.Errorf("outside any module: err = %v", err)
	}
	// With the right toolchain and module the plan is complete.
	p, err := Prepare(ctx, Options{Baseline: self, Source: src, Go: fakeGo(t, info.GoVersion, info.Main.Path)})
	if err != nil {
		t.Fatal(err)
	}
	if p.ModRoot != "/src" || !strings.HasPrefix(p.Dir, WorkDir+"/p_") || p.Manifest.Package != info.Main.Path+"/"+p.Dir ||
		len(p.Files) != 2 || !slices.Contains(p.GoEnv, "GOFLAGS=") {
		t.Errorf("plan = %+v", p)
	}
}

func TestBuildBaselineRefusesFlags(t *testing.T) {
	ctx := context.Background()
	for name, flags := range map[string][]string{
		"two -gcflags": {"-gcflags=all=-N", "-gcflags", "x=-l"},
		"two -ldflags": {"-ldflags=-s", "-ldflags=-w"},
		"overlay":      {"-overlay=o.json"},
		"buildmode":    {"-buildmode=c-shared"},
		"output":       {"-o", "x"},
		"not a flag":   {"./x"},
		"no value":     {"-tags"},
	} {
		_, err := BuildBaseline(ctx, BaselineOptions{Flags: flags, Go: "/nonexistent/go"})
		if !errors.Is(err, ErrFlags) {
			t.Errorf("%s: err = %v, want ErrFlags", name, err)
		}
	}
	t.Setenv("GOFLAGS", "-gcflags=all=-N")
	if _, err := BuildBaseline(ctx, BaselineOptions{Go: "/nonexistent/go"}); !errors.Is(err, ErrFlags) {
		t.Errorf("GOFLAGS with -gcflags: err = %v, want ErrFlags", err)
	}
}

// TestBuildBaselineRefusesPackage: what is not one main package is said
// in one sentence, without go list's template or tabs.
func TestBuildBaselineRefusesPackage(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=mod")
	app := newUserApp(t)
	for pkg, want := range map[string]string{
		"./greet":    "is package greet (example.com/app/greet), not a main package",
		"./nonexist": "nonexist",
		"./...":      "names 3 packages",
	} {
		_, err := BuildBaseline(context.Background(), BaselineOptions{Dir: app, Package: pkg})
		if msg := fmt.Sprint(err); !errors.Is(err, ErrPackage) || !strings.Contains(msg, want) || strings.ContainsAny(msg, "\t{") {
			t.Errorf("%s: err = %v, want ErrPackage saying %q", pkg, err, want)
		}
	}
	_, err := BuildBaseline(context.Background(), BaselineOptions{Dir: t.TempDir()})
	if !errors.Is(err, ErrPackage) || !strings.Contains(err.Error(), "go.mod file not found") {
		t.Errorf("outside any module: err = %v", err)
	}
}

func TestDefaultExeName(t *testing.T) {
	for in, want := range map[string]string{"example.com/cmd/server": "server", "example.com/tool/v2": "tool", "server": "server"} {
		if got := defaultExeName(in); got != want {
			t.Errorf("defaultExeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// newUserApp writes an application module outside this one, as a new user
// has it: not a VCS checkout (nothing stamps a revision), hotpatch
// required through a replace, a host package and a main that loads native
// patches.
func newUserApp(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.26\n\nrequire (\n" +
			"\tgithub.com/hotpatch-go/hotpatch v0.0.0-00010101000000-000000000000\n" +
			"\tgithub.com/fsnotify/fsnotify v1.10.1\n\tgolang.org/x/sys v0.50.0\n)\n\n" +
			"replace github.com/hotpatch-go/hotpatch => " + root + "\n",
		"go.sum":         string(sum),
		"greet/greet.go": "package greet\n\nfunc Greeting() string { return \"hello\" }\n",
		"main.go": `package main

import (
	"context"
	"fmt"
	"os"

	"example.com/app/greet"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/registry"
)

func main() {
	reg := registry.New()
	hi := registry.MustRegister(reg, "app.Hi", func(name string) string { return greet.Greeting() + ", " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer mgr.Close(context.Background())
	l := native.New(native.Options{})
	for _, path := range os.Args[1:] {
		p, err := l.Load(context.Background(), mgr, path)
		if err == nil {
			_, err = mgr.Apply(context.Background(), p)
		}
		if err != nil {
			fmt.Println("refused:", err)
		}
	}
	fmt.Println(hi.Load()("world"))
}
`,
		"patches/hi.go": `package patch

import "example.com/app/greet"

//hotpatch:slot app.Hi
func Hi(name string) string { return greet.Greeting() + " again, " + name }
`,
	}
	for name, data := range files {
		path := filepath.Join(app, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

// TestNewUserSourceDrift is the case of a new user: in a module without
// VCS stamping, a host package's function body is edited after `hotpatch
// build`. The fingerprint does not change (same modules, same settings, no
// revision) and the Go runtime's check at plugin.Open would not see it (a
// body is not export data), so before the source record the patch built,
// loaded, and served code the running binary does not contain. Now patch
// build refuses it, naming the package.
func TestNewUserSourceDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a baseline")
	}
	t.Setenv("GOFLAGS", "-mod=mod")
	app := newUserApp(t)
	ctx := context.Background()
	bin := filepath.Join(app, "server")
	flags := slices.DeleteFunc(testbuild.Flags(), func(f string) bool { return strings.HasPrefix(f, "-gcflags") })
	res, err := BuildBaseline(ctx, BaselineOptions{Dir: app, Output: bin, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	// Issue 9, item 9: the app links package plugin through the native
	// loader, compiled with inlining here (it is not in the app's module),
	// so plugin.Open is inlined away; that is no reason to warn.
	for _, w := range res.Warnings {
		if strings.Contains(w, "plugin") {
			t.Errorf("warning about a binary that links package plugin: %s", w)
		}
	}
	if res.Sources["example.com/app/greet"] == "" || res.Sources["example.com/app"] == "" {
		t.Fatalf("source record %v lacks the app's packages", res.Sources)
	}
	if s, err := manifest.ReadSources(bin); err != nil || s["example.com/app/greet"] != res.Sources["example.com/app/greet"] {
		t.Fatalf("ReadSources(baseline) = %v, %v", s, err)
	}
	// Built again into the same file, unchanged: the go command finds the
	// binary up to date and leaves it, record and all; that is no error.
	if _, err := BuildBaseline(ctx, BaselineOptions{Dir: app, Output: bin, Flags: flags}); err != nil {
		t.Fatalf("building the baseline again into the same file: %v", err)
	}

	opts := Options{Baseline: bin, Source: filepath.Join(app, "patches", "hi.go"), Module: app}
	p, err := Prepare(ctx, opts)
	if err != nil {
		t.Fatalf("the unchanged tree: %v", err)
	}
	if got := p.Manifest.Sources["example.com/app/greet"]; got != res.Sources["example.com/app/greet"] {
		t.Errorf("manifest records greet as %q, the baseline as %q", got, res.Sources["example.com/app/greet"])
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings for a baseline of hotpatch build: %q", p.Warnings)
	}

	// Only a body changes: no export data, no module, no setting.
	greet := filepath.Join(app, "greet", "greet.go")
	if err := os.WriteFile(greet, []byte("package greet\n\nfunc Greeting() string { return \"HELLO\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Prepare(ctx, opts)
	var de *DriftError
	if !errors.As(err, &de) || !errors.Is(err, ErrDrift) {
		t.Fatalf("after editing greet.go: err = %v, want a *DriftError", err)
	}
	if len(de.Differences) != 1 || de.Differences[0].What != "source of package example.com/app/greet" {
		t.Errorf("differences = %v, want only package example.com/app/greet", de.Differences)
	}
	if !strings.Contains(err.Error(), "baseline step") {
		t.Errorf("the refusal does not advise the baseline step:\n%v", err)
	}
	t.Logf("refusal reads:\n%v", err)

	// A baseline without the record (as a plain go build leaves it): the
	// patch builds as before, with a warning that says what is not checked.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(app, "plain")
	const magic = "\x00hotpatch-manifest\n" // ends the record manifest.WriteSources appends
	if !strings.HasSuffix(string(data), magic) {
		t.Fatalf("%s does not end with a record", bin)
	}
	trailer := 8 + len(magic)
	body := data[:len(data)-trailer-int(binary.LittleEndian.Uint64(data[len(data)-trailer:]))]
	os.WriteFile(plain, body, 0o755)
	opts.Baseline = plain
	p, err = Prepare(ctx, opts)
	if err != nil {
		t.Fatalf("baseline without a record: %v", err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "no record of its packages' source") {
		t.Errorf("warnings = %q, want one about the missing record", p.Warnings)
	}

	// A record damaged after the build (here its length lies): refused,
	// saying what to do, as the server refuses every patch then.
	damaged := filepath.Join(app, "damaged")
	os.WriteFile(damaged, append(body, "\xff\xff\xff\x00\x00\x00\x00\x00"+magic...), 0o755)
	opts.Baseline = damaged
	_, err = Prepare(ctx, opts)
	if !errors.Is(err, ErrBaseline) || !errors.Is(err, manifest.ErrBad) || !strings.Contains(err.Error(), "build it again with `hotpatch build`") {
		t.Errorf("baseline with a damaged record: err = %v, want ErrBaseline, manifest.ErrBad and advice", err)
	}
}

func TestBaselineWarnings(t *testing.T) {
	self, _ := os.Executable()
	// What the test binary itself lacks (without -race it may be linked
	// statically) is said whatever the flags; count only the flags' part.
	own := len(pluginReady(self))
	for gcflags, want := range map[string]int{"": 1, "-N -l": 0, "all=-l": 0, "example.com/app/...=-l": 0, "-N": 1} {
		info := &debug.BuildInfo{Settings: settings("-gcflags", gcflags)}
		if got := baselineWarnings(self, info); len(got) != want+own {
			t.Errorf("-gcflags=%q: warnings %q, want %d", gcflags, got, want)
		}
	}
}

// TestPluginReady: a binary that does not link package plugin is said to
// (the go command is one); one that does is not, even when plugin.Open
// itself was inlined away (see TestNewUserSourceDrift).
func TestPluginReady(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip(err)
	}
	if f, err := elf.Open(goCmd); err != nil {
		t.Skipf("%s is not an ELF file: %v", goCmd, err)
	} else {
		f.Close()
	}
	warn := strings.Join(pluginReady(goCmd), "\n")
	if !strings.Contains(warn, "does not link package plugin") {
		t.Errorf("pluginReady(%s) = %q, want a warning about package plugin", goCmd, warn)
	}
	self, _ := os.Executable() // links the native loader
	for _, w := range pluginReady(self) {
		if strings.Contains(w, "does not link package plugin") {
			t.Errorf("pluginReady(test binary): %s", w)
		}
	}
}

// TestSourceRecordEdits: every edit after the build that changes what a
// host package compiles to changes its hash in the source record, and
// only those: a body, a file added or removed, a file of the build's
// tags, an embedded file, a cgo file, the language version in go.mod. A
// file another build tag selects changes nothing.
func TestSourceRecordEdits(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=mod")
	app := newUserApp(t)
	ctx := context.Background()
	p := &Plan{Options: Options{Go: "go"}, GoEnv: os.Environ()}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(app, filepath.FromSlash(name)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("greet/msg.txt", "hi")
	write("greet/embed.go", "package greet\n\nimport _ \"embed\"\n\n//go:embed msg.txt\nvar msg string\n")
	const pkg = "example.com/app/greet"
	record := func() string {
		t.Helper()
		s, err := p.sourceRecord(ctx, app, nil, false, "./greet")
		if err != nil {
			t.Fatal(err)
		}
		if s[pkg] == "" {
			t.Fatalf("record %v lacks %s", s, pkg)
		}
		return s[pkg]
	}
	goMod, err := os.ReadFile(filepath.Join(app, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		edit, undo func()
		changes    bool
	}{
		{"body", func() { write("greet/greet.go", "package greet\n\nfunc Greeting() string { return \"HELLO\" }\n") },
			func() { write("greet/greet.go", "package greet\n\nfunc Greeting() string { return \"hello\" }\n") }, true},
		{"file added", func() { write("greet/more.go", "package greet\n") },
			func() { os.Remove(filepath.Join(app, "greet", "more.go")) }, true},
		{"file of the build's tags", func() { write("greet/x_linux.go", "package greet\n") },
			func() { os.Remove(filepath.Join(app, "greet", "x_linux.go")) }, true},
		{"file of other tags", func() { write("greet/x_other.go", "//go:build someothertag\n\npackage greet\n") },
			func() { os.Remove(filepath.Join(app, "greet", "x_other.go")) }, false},
		{"embedded file", func() { write("greet/msg.txt", "ho") }, func() { write("greet/msg.txt", "hi") }, true},
		{"cgo file", func() { write("greet/c.go", "package greet\n\n// int one(void) { return 1; }\nimport \"C\"\n") },
			func() { os.Remove(filepath.Join(app, "greet", "c.go")) }, true},
		{"go version in go.mod", func() { write("go.mod", strings.Replace(string(goMod), "\ngo 1.26\n", "\ngo 1.21\n", 1)) },
			func() { write("go.mod", string(goMod)) }, true},
	} {
		before := record()
		tc.edit()
		after := record()
		tc.undo()
		if changed := after != before; changed != tc.changes {
			t.Errorf("%s: record changed = %v, want %v", tc.name, changed, tc.changes)
		}
		if again := record(); again != before {
			t.Errorf("%s: undone, the record is %s, was %s", tc.name, again, before)
		}
	}
	// A file removed is the reverse of one added; the embed file goes
	// with the file that embeds it.
	before := record()
	os.Remove(filepath.Join(app, "greet", "embed.go"))
	if record() == before {
		t.Errorf("file removed: the record did not change")
	}
}
