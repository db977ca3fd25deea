package journal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackChurn applies and reverts 1000 different patches: the
// journal and its kept copies end no larger than for the one patch left.
// It runs on a tmpfs where it can (each change is synced twice, which
// costs milliseconds on a disk); elsewhere on 100 patches.
func TestAttackChurn(t *testing.T) {
	t.Parallel()
	state, src, n := stateDir(t), t.TempDir(), 1000
	if fs, err := mountTmpfs(t, "8m"); err == nil {
		state = filepath.Join(fs, "state")
	} else {
		n = 100
	}
	s := start(t, state, "exe:A", hotswap.KindScript, journal.Options{})
	s.apply(t, writeFile(t, src, "keep.txt", "kept"))
	fi, err := os.Stat(filepath.Join(state, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	ctx := context.Background()
	l := s.m.Loaders()[0]
	for i := range n {
		p, err := s.m.Load(ctx, l, writeFile(t, src, fmt.Sprintf("p%d.txt", i), fmt.Sprint("content ", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.m.Apply(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.m.Revert(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.sync(t)
	fi, err = os.Stat(filepath.Join(state, "journal"))
	if err != nil || fi.Size() != size {
		t.Errorf("journal of %v bytes after %d patches applied and reverted, %d before (%v)", fi.Size(), n, size, err)
	}
	blobs, _ := filepath.Glob(filepath.Join(state, "blobs", "*", "*"))
	if len(blobs) != 1 {
		t.Errorf("%d kept copies after the churn, want 1: %v", len(blobs), blobs[:min(len(blobs), 5)])
	}
	if left, _ := filepath.Glob(filepath.Join(state, "*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
