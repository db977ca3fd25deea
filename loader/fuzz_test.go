package loader_test

import (
	"errors"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/registry"
)

// FuzzParse checks that Parse never panics, that every error it returns
// says where (file and line), and that what it accepts obeys the rules.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		okSource,
		"",
		"\x00",
		"\xff\xfe",
		"package p\n//hotpatch:slot a.B\nfunc F() {}\n",
		"package p\n//hotpatch:slot a.B\n\nfunc F() {}\n",
		"package p\n//hotpatch:slot a.B\nfunc (T) F() {}\n",
		"package p\n//hotpatch:slot a.B\nfunc F[T any]() {}\n",
		"package p\n//hotpatch:slot a.B\nfunc F() {}\n//hotpatch:slot a.B\nfunc G() {}\n",
		"package p\n// hotpatch:slot a.B\nfunc F() {}\n",
		"package p\n/*hotpatch:slot a.B*/func F() {}\n",
		"package p\nfunc F() {\n//hotpatch:slot a.B\n}\n",
		"package p\n//hotpatch:slot\nfunc F()\n",
		"package p\n//hotpatch:\n",
		"package p\nconst (\n//hotpatch:slot a.B\nX = 1\n)\n",
		"package p\nfunc F( {\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := loader.Parse("fuzz.go", []byte(src))
		if err != nil {
			if s != nil {
				t.Errorf("Parse returned a Source and an error")
			}
			checkPositioned(t, err)
			return
		}
		if len(s.Directives) == 0 {
			t.Fatalf("accepted a file without directives")
		}
		seen := map[string]bool{}
		for _, d := range s.Directives {
			if !registry.ValidName(d.Slot) || d.Func == "" || d.Func == "init" || d.Func == "_" {
				t.Errorf("accepted directive %+v", d)
			}
			if seen[d.Slot] {
				t.Errorf("slot %s accepted twice", d.Slot)
			}
			seen[d.Slot] = true
			if d.Pos.Filename != "fuzz.go" || d.Pos.Line < 1 {
				t.Errorf("directive position %v", d.Pos)
			}
		}
		if err := s.CheckSlots(func(string) error { return errors.New("unknown") }); err == nil {
			t.Errorf("CheckSlots with no slot known succeeded")
		} else {
			checkPositioned(t, err)
		}
	})
}

// checkPositioned fails unless every leaf of err is a *loader.Error with a
// file name and a line.
func checkPositioned(t *testing.T, err error) {
	t.Helper()
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			checkPositioned(t, e)
		}
		return
	}
	var le *loader.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %q is not a *loader.Error", err)
	}
	if le.Pos.Filename != "fuzz.go" || le.Pos.Line < 1 {
		t.Fatalf("error %q has position %v, want fuzz.go:LINE", err, le.Pos)
	}
}
