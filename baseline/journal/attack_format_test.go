package journal_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackHandEditedJournal: a journal edited by hand, with a checksum
// line that looks right but is not, and one of a future format version
// with a correct checksum: each is moved aside (kept), reported with
// its reason, and the server starts on its baseline.
func TestAttackHandEditedJournal(t *testing.T) {
	t.Parallel()
	doc := `{"version": %d, "current": "exe:A", "baselines": [{"identity": "exe:A", "patches": []}]}`
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	v1, v2 := fmt.Sprintf(doc, 1), fmt.Sprintf(doc, 2)
	for name, tc := range map[string]struct{ content, says string }{
		"wrong checksum": {v1 + "\nsha256 " + sum(v1+" ") + "\n", "checksum mismatch"},
		"future version": {v2 + "\nsha256 " + sum(v2) + "\n", "format version 2, this build reads 1"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state := stateDir(t)
			os.Mkdir(state, 0o700)
			writeFile(t, state, "journal", tc.content)
			s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
			ev := s.events(journal.EventCorrupt)
			if len(ev) != 1 || !strings.Contains(ev[0].Err.Error(), tc.says) {
				t.Fatalf("journal-corrupt events %v, want one saying %q", ev, tc.says)
			}
			aside, _ := filepath.Glob(filepath.Join(state, "journal.corrupt-*"))
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if data, _ := os.ReadFile(aside[0]); string(data) != tc.content {
				t.Fatal("the journal moved aside is not the one found")
			}
		})
	}
}
