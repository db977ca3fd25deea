package hotpatch

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/hotpatch-go/hotpatch/bundle"
)

// TestMarksOfTwoProcesses: two processes on one state directory (the old
// and the new one of a baseline step, each taking pushes) raise marks at
// the same time; none is lost. Each read-merge-write was serialised
// within its process only: the second write replaced the file with what
// it read before the first wrote, and an old signed version of a fix was
// then no longer a replay.
func TestMarksOfTwoProcesses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock: the last process to write wins")
	}
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, MarksFile)
	a, b := &fileMarks{path: path}, &fileMarks{path: path} // each with its own lock, as two processes
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for j, s := range []*fileMarks{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.SetMark(fmt.Sprintf("p%d-%d", j, i), bundle.Mark{Version: 1, Digest: "d"})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	marks, err := a.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 2*n {
		t.Errorf("%d marks on disk, want %d: concurrent writes of two processes lost some", len(marks), 2*n)
	}
}
