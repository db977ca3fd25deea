package patchbuild

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSourceRecordOverlay: with an overlay, the source record hashes a
// package as the go command compiles it: an added file counts, a replaced
// file counts with its replacement's content, a removed one not at all,
// so that a baseline and its patches built with the same overlay agree,
// whatever the tree holds on disk.
func TestSourceRecordOverlay(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=mod")
	app := newUserApp(t)
	ctx := context.Background()
	over := t.TempDir()
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	greetGo := filepath.Join(app, "greet", "greet.go")
	orig, err := os.ReadFile(greetGo)
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "example.com/app/greet"
	record := func(replace map[string]string) string {
		t.Helper()
		p := &Plan{Options: Options{Go: "go"}, GoEnv: os.Environ()}
		if replace != nil {
			b, _ := json.Marshal(map[string]any{"Replace": replace})
			p.Overlay = filepath.Join(over, "overlay.json")
			write(p.Overlay, string(b))
			if p.overlay, err = readOverlay(p.Overlay); err != nil {
				t.Fatal(err)
			}
		}
		s, err := p.sourceRecord(ctx, app, nil, false, "./greet")
		if err != nil {
			t.Fatal(err)
		}
		return s[pkg]
	}
	plain := record(nil)
	shim := filepath.Join(over, "shim.go")
	write(shim, "package greet\n\nvar Exported = Greeting\n")
	added := map[string]string{filepath.Join(app, "greet", "zz_shim.go"): shim}
	withShim := record(added)
	if withShim == plain || withShim == "" {
		t.Fatalf("an overlay's added file: record %q, without it %q; want another, non-empty hash", withShim, plain)
	}
	// The tree edited on disk, the overlay putting the old content back:
	// the record is that of the overlay's view.
	saved := filepath.Join(over, "greet.go")
	write(saved, string(orig))
	write(greetGo, "package greet\n\nfunc Greeting() string { return \"HELLO\" }\n")
	back := map[string]string{filepath.Join(app, "greet", "zz_shim.go"): shim, greetGo: saved}
	if got := record(back); got != withShim {
		t.Errorf("an edited file replaced by its old content: record %s, want %s", got, withShim)
	}
	// A new file on disk that the overlay removes.
	extra := filepath.Join(app, "greet", "extra.go")
	write(extra, "package greet\n\nfunc Extra() {}\n")
	back[extra] = ""
	if got := record(back); got != withShim {
		t.Errorf("a new file removed by the overlay: record %s, want %s", got, withShim)
	}

	for _, bad := range []string{`{"Replace": {"rel.go": "/x"}}`, `{"Replace": `} {
		f := filepath.Join(over, "bad.json")
		write(f, bad)
		if _, err := readOverlay(f); !errors.Is(err, ErrFlags) {
			t.Errorf("overlay %s: %v, want ErrFlags", bad, err)
		}
	}
}
