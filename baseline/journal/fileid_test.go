package journal

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/bundle"
)

// TestFileIDOfBundle: a bundle's patch ID is the one its manifest names,
// whether the journal has its content (a copy) or reads the file (Known);
// anything else, and a file named like a bundle that is not one, gets the
// loaders' name-and-content ID.
func TestFileIDOfBundle(t *testing.T) {
	var buf bytes.Buffer
	m := bundle.Manifest{ID: "greet", Version: 3, Kind: "script", Payload: bundle.Payload{Name: "greet.go"},
		Slots: []bundle.Slot{{Name: "example.Greet", Type: "func(string) string"}}}
	if _, err := bundle.Write(&buf, m, []byte("package patch\n"), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "greet.hpatch")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := fileID(path, sum, buf.Bytes()); got != "greet@3" {
		t.Errorf("from the content: %q, want greet@3", got)
	}
	if got := fileID(path, sum, nil); got != "greet@3" {
		t.Errorf("from the file: %q, want greet@3", got)
	}
	junk := []byte("not a bundle")
	if got, want := fileID(path, sha256.Sum256(junk), junk), patchID(path, sha256.Sum256(junk)); got != want {
		t.Errorf("junk named .hpatch: %q, want %q", got, want)
	}
	if got, want := fileID("x/greet.go", sum, nil), patchID("x/greet.go", sum); got != want {
		t.Errorf("a script: %q, want %q", got, want)
	}
}
