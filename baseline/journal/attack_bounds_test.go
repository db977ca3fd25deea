package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttackRecordTooLargeToRead: a stack deeper than a reader accepts
// is not written (the next start would move the whole journal aside as
// corrupt); the write fails, says why, and the journal on disk keeps the
// last state a reader accepts.
func TestAttackRecordTooLargeToRead(t *testing.T) {
	t.Parallel()
	m, err := hotswap.New(registry.New(), hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	dir := t.TempDir()
	j := &Journal{m: m, dir: dir, ident: "exe:A", st: sampleState(), dirty: true,
		known: map[string]entry{}, uncopyable: map[string]bool{}, warned: map[string]bool{}}
	j.st.Current = "exe:A"
	j.st.Baselines = []baselineRec{{Identity: "exe:A"}}
	if err := j.flush(); err != nil {
		t.Fatal(err)
	}
	rec := &j.st.Baselines[0]
	for i := range maxPatches + 1 {
		rec.Patches = append(rec.Patches, entry{Order: i + 1, ID: fmt.Sprintf("hand-%d", i), Kind: hotswap.KindManual})
	}
	j.dirty = true
	if err := j.flush(); err == nil {
		t.Fatal("a record of 4097 patches was written")
	}
	data, err := os.ReadFile(filepath.Join(dir, fileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(data); err != nil {
		t.Fatalf("the journal on disk no longer reads: %v", err)
	}
	var said bool
	for _, e := range m.History() {
		said = said || e.Type == EventError
	}
	if !said {
		t.Fatal("no journal-error event")
	}
}
