package patchbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestAttackBOM: a patch file that starts with a UTF-8 byte order mark,
// which Go accepts as a file's first code point, builds: the //line
// directive written before it must not leave the mark in the middle of
// the file, where the compiler refuses it.
func TestAttackBOM(t *testing.T) {
	src := "\uFEFF" + strings.ReplaceAll(shapesSource, "\n", "\r\n")
	src = strings.TrimSuffix(src, "\r\n") // and no newline at the end
	if _, _, err := checkWrapped(t, src, nil); err != nil {
		t.Fatal(err)
	}
}

// TestAttackImportNames: an import named like the generated code's names
// would collide with them (hotpatchRecover) or be shadowed in the wrappers
// (hotpatchSlot): it is refused before the build, naming it.
func TestAttackImportNames(t *testing.T) {
	s := parse(t, "package patch\n\nimport hotpatchSlot \"strings\"\n\n//hotpatch:slot a.B\nfunc F(b *hotpatchSlot.Builder) {}\n")
	got := ownNames(s)
	if len(got) != 1 || !strings.HasPrefix(got[0], "hotpatchSlot (/src/patch.go:3") {
		t.Fatalf("ownNames = %q, want the import hotpatchSlot", got)
	}
}

// TestAttackBuildConstraint: a patch whose build constraint leaves it out
// of the baseline's build would not be compiled at all, and the build
// would fail on the generated code ("undefined: F"). It is refused before
// the build, naming the constraint; one that holds is built.
func TestAttackBuildConstraint(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := debug.ReadBuildInfo()
	goCmd := fakeGo(t, info.GoVersion, info.Main.Path)
	dir := t.TempDir()
	prepare := func(name, constraint string) error {
		path := filepath.Join(dir, name)
		src := constraint + "\n\npackage p\n\n//hotpatch:slot a.B\nfunc F() {}\n"
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Prepare(context.Background(), Options{Baseline: self, Source: path, Go: goCmd})
		return err
	}
	for _, c := range []string{"//go:build ignore", "//go:build !linux", "//go:build windows && cgo", "// +build ignore", "//go:build !cgo", "\uFEFF//go:build ignore\r"} {
		err := prepare("excluded.go", c)
		if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "excluded.go") || !strings.Contains(err.Error(), "build constraint") {
			t.Errorf("%s: err = %v, want a refusal naming the constraint", c, err)
		}
	}
	for _, c := range []string{"//go:build linux", "//go:build cgo && amd64 && unix", "//go:build go1.21", "// a comment", "\uFEFF//go:build linux\r"} {
		if err := prepare("included.go", c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// TestAttackSignatureShapes: signatures the wrappers copy from syntax that
// the shapes fixture does not have: a generic type instantiated, a struct
// over several lines with tags and comments, a func type whose params are
// named like the generated ones, an array whose length is a constant, an
// interface with methods, and a patch that also declares generic funcs,
// methods and a package-level runtime of its own.
func TestAttackSignatureShapes(t *testing.T) {
	src := `package patch

const n = 4

type list[T any] struct{ items []T }

func mapOf[K comparable, V any](k K, v V) map[K]V { return map[K]V{k: v} }

type t struct{}

func (t) hotpatchMethod() {}

var runtime = "not the package"

//hotpatch:slot s.Odd
func Odd(l list[int], o struct {
	A int    ` + "`json:\"a\"`" + ` // a
	B string // b
}, f func(hotpatchA0 int, hotpatchR0 ...string) (hotpatchReturned bool), a [n]byte, i interface{ M(int) error }) (r list[string], _ error) {
	_ = mapOf(1, runtime)
	return list[string]{}, nil
}
`
	if _, _, err := checkWrapped(t, src, nil); err != nil {
		t.Fatal(err)
	}
}
