package hotpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
	"github.com/hotpatch-go/hotpatch/internal/filelock"
	"github.com/hotpatch-go/hotpatch/internal/patchfile"
)

// MarksFile is the file of the state directory that keeps the bundles'
// replay marks across restarts (see [Options.Bundles]).
const MarksFile = "replay-marks"

// maxMarksSize bounds what is read of the marks file.
const maxMarksSize = 16 << 20

// fileMarks keeps the replay marks in a file of the state directory, so
// that a bundle older than one applied before a restart (or a baseline
// step) is still a replay. Each call reads the file, so the process that
// took over in a baseline step sees the marks the old one raised while it
// drained; SetMark merges into what the file holds (a mark only rises) and
// replaces it whole (temporary file, sync, rename, sync of the directory),
// under an flock of replay-marks.lock, so that two processes raising marks
// at once lose none (without flock, on Windows, the last to write wins).
type fileMarks struct {
	path string
	mu   sync.Mutex // serialises this process's read-merge-write
}

type marksFile struct {
	Format int                    `json:"format"`
	Marks  map[string]bundle.Mark `json:"marks"`
}

func (s *fileMarks) read() (map[string]bundle.Mark, error) {
	data, _, err := patchfile.ReadFile(s.path, maxMarksSize)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bundle.Mark{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f marksFile
	if err := json.Unmarshal(data, &f); err != nil || f.Format != 1 {
		return nil, fmt.Errorf("%s is not a replay-marks file of format 1 (%v): move it aside to start the marks anew", s.path, err)
	}
	if f.Marks == nil {
		f.Marks = map[string]bundle.Mark{}
	}
	return f.Marks, nil
}

// Mark implements [bundle.Marks].
func (s *fileMarks) Mark(id string) (bundle.Mark, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	marks, err := s.read()
	if err != nil {
		return bundle.Mark{}, false, err
	}
	m, ok := marks[id]
	return m, ok, nil
}

// SetMark implements [bundle.Marks].
func (s *fileMarks) SetMark(id string, m bundle.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := filelock.Lock(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("replay marks: lock: %w", err)
	}
	defer unlock()
	marks, err := s.read()
	if err != nil {
		return err
	}
	if old, ok := marks[id]; ok && old.Version > m.Version {
		return nil // another process raised it further
	}
	marks[id] = m
	data, err := json.Marshal(marksFile{Format: 1, Marks: marks})
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(s.path, data, atomicfile.Options{Perm: 0o600})
}

// withStateMarks returns opts with the bundle policy's replay marks kept
// in the state directory, when there is one and the policy names no store
// of its own. It never writes into the caller's policy.
func withStateMarks(opts Options) Options {
	dir := (&Runtime{opts: opts}).stateDir()
	if opts.Bundles == nil || opts.Bundles.Marks != nil || dir == "" {
		return opts
	}
	pol := *opts.Bundles
	pol.Marks = &fileMarks{path: filepath.Join(dir, MarksFile)}
	opts.Bundles = &pol
	return opts
}
