package patchbuild

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
	nativeloader "github.com/hotpatch-go/hotpatch/loader/native"
	"github.com/hotpatch-go/hotpatch/native"
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
	rec, _ := native.FingerprintOf(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/app"},
		Settings: settings("CGO_ENABLED", "1")})
	m := nativeloader.Manifest{ID: "p_1", Package: "example.com/app/.hotpatch/build/p_1", Source: "p.go", SourceSum: "sha256:00",
		Slots: []string{"billing.Price"}, Baseline: rec}
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
	rec, _ := native.FingerprintOf(base)
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

func TestDefaultExeName(t *testing.T) {
	for in, want := range map[string]string{"example.com/cmd/server": "server", "example.com/tool/v2": "tool", "server": "server"} {
		if got := defaultExeName(in); got != want {
			t.Errorf("defaultExeName(%q) = %q, want %q", in, got, want)
		}
	}
}
