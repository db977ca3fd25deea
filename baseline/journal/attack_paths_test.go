package journal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackRelativeStateDirAfterChdir opens the journal on a relative
// state directory, then the process changes its working directory: the
// journal keeps writing where it was opened, not beside the new one.
func TestAttackRelativeStateDirAfterChdir(t *testing.T) {
	home, elsewhere, src := t.TempDir(), t.TempDir(), t.TempDir()
	t.Chdir(home)
	s := start(t, "state", "exe:A", hotswap.KindScript, journal.Options{})
	if d := s.j.Dir(); !filepath.IsAbs(d) {
		t.Errorf("Dir() = %q, want an absolute path", d)
	}
	a := s.apply(t, writeFile(t, src, "a.txt", "A"))
	t.Chdir(elsewhere)
	b := s.apply(t, writeFile(t, src, "b.txt", "B"))
	s.stop(t)
	if _, err := os.Stat(filepath.Join(elsewhere, "state")); err == nil {
		t.Error("a state directory appeared beside the new working directory")
	}
	data, err := os.ReadFile(filepath.Join(home, "state", "journal"))
	if err != nil || !strings.Contains(string(data), a) || !strings.Contains(string(data), b) {
		t.Fatalf("journal in the state directory opened (%v) lacks %s or %s:\n%s", err, a, b, data)
	}
}

// TestAttackStateDirOfAnotherUser: a state directory owned by another
// user is refused even with mode 0755 and a process (root) that can write
// it: its owner could change the code applied at the next start.
func TestAttackStateDirOfAnotherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Skip(err)
	}
	_, err := tryStart(t, dir, "exe:A", hotswap.KindScript, journal.Options{})
	if !errors.Is(err, journal.ErrStateDirUnsafe) || !strings.Contains(err.Error(), "owned by") {
		t.Fatalf("Open of a directory owned by uid 65534 = %v, want %v saying who owns it", err, journal.ErrStateDirUnsafe)
	}
}
