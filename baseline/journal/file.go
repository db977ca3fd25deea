package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
)

// The journal file is one JSON document (a [state]) followed by the line
//
//	sha256 <64 hex digits>
//
// holding the SHA-256 of every byte before that line. It is replaced as a
// whole: written to a temporary file in the state directory, synced,
// renamed over the journal, and the directory synced. A reader sees the
// old journal or the new one, never a mix; a temporary file left by a
// crash is never read, and is removed at the next Open.
const (
	fileName    = "journal"
	tempPattern = fileName + ".tmp-*"
	// blobTempPattern names the temporary files of kept copies, made in
	// the state directory itself: in the copy's own directory, a
	// temporary file's name could be a patch file's.
	blobTempPattern = "blob.tmp-*"
	lockName        = "lock"
	// ownerPrefix names the file, owner.<token>, whose lock says that the
	// journal with that owner token is open in a running process.
	ownerPrefix   = "owner."
	blobDir       = "blobs"
	formatVersion = 1
	sumPrefix     = "sha256 "

	// maxJournalSize bounds the journal a reader accepts, before reading.
	maxJournalSize = 16 << 20
	// maxBaselines bounds the baselines a journal keeps (newest first);
	// maxSuperseded the superseded contents one baseline remembers, and
	// maxPatches the patches one baseline records.
	maxBaselines  = 8
	maxSuperseded = 4096
	maxPatches    = 4096
)

// state is the content of the journal.
type state struct {
	Version int `json:"version"`
	// Current is the identity of the baseline that wrote the journal
	// last: on a new baseline, its patches are the ones superseded.
	Current string `json:"current"`
	// Owner names the process that opened the journal last (its PID and
	// a random token): an earlier process that finds another name stops
	// writing.
	Owner     string        `json:"owner,omitempty"`
	Baselines []baselineRec `json:"baselines"` // most recently run first
}

// baselineRec is what one baseline applied.
type baselineRec struct {
	Identity   string       `json:"identity"`
	Patches    []entry      `json:"patches"`              // the patch stack, bottom first
	Superseded []superseded `json:"superseded,omitempty"` // contents older baselines applied, oldest first
	// HeldBack are the patches of this baseline rolled back after
	// repeated failures, or reverted by hand while their file stayed,
	// oldest first: a patch directory file with that name and content
	// stays unapplied at the next start.
	HeldBack []superseded `json:"heldBack,omitempty"`
}

// entry is one applied patch.
type entry struct {
	Order  int          `json:"order"` // its position in the stack, from 1
	ID     string       `json:"id"`
	Kind   hotswap.Kind `json:"kind"`
	Source string       `json:"source,omitempty"`
	// SHA256 is the hex SHA-256 of the patch file, whose copy is kept in
	// the blob directory; "" when there is no copy (a manual patch, or
	// a file that changed before it could be copied).
	SHA256 string `json:"sha256,omitempty"`
}

// superseded is a content applied on an older baseline.
type superseded struct {
	SHA256 string `json:"sha256"`
	ID     string `json:"id"`
}

// encode renders s with its checksum line. It refuses what [parse] would
// refuse: a journal written is one the next start reads.
func (s *state) encode() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("not written, the next start could not read it: %w", err)
	}
	doc, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	data := fmt.Appendf(doc, "\n%s%s\n", sumPrefix, hex.EncodeToString(sum[:]))
	if len(data) > maxJournalSize {
		return nil, fmt.Errorf("not written, the next start could not read it: %d bytes, more than the %d a journal may hold", len(data), maxJournalSize)
	}
	return data, nil
}

// parse reads a journal, checking its checksum and every field. Any
// defect is an error wrapping [ErrCorrupt].
func parse(data []byte) (*state, error) {
	if len(data) > maxJournalSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a journal may hold", ErrCorrupt, len(data), maxJournalSize)
	}
	body, ok := bytes.CutSuffix(data, []byte("\n"))
	i := bytes.LastIndexByte(body, '\n')
	if !ok || i < 0 || !bytes.HasPrefix(body[i+1:], []byte(sumPrefix)) {
		return nil, fmt.Errorf("%w: no checksum line at the end (a write cut short?)", ErrCorrupt)
	}
	doc, want := body[:i], body[i+1+len(sumPrefix):]
	got := sha256.Sum256(doc)
	if string(want) != hex.EncodeToString(got[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch: the file says %.16q, its content hashes to %.16s", ErrCorrupt, want, hex.EncodeToString(got[:]))
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var s state
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the document", ErrCorrupt)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &s, nil
}

// check refuses what no journal written by this package holds.
func (s *state) check() error {
	if s.Version != formatVersion {
		return fmt.Errorf("format version %d, this build reads %d", s.Version, formatVersion)
	}
	if len(s.Baselines) > maxBaselines {
		return fmt.Errorf("%d baselines, at most %d are kept", len(s.Baselines), maxBaselines)
	}
	if s.Current != "" && s.find(s.Current) == nil {
		return fmt.Errorf("current baseline %q has no record", s.Current)
	}
	seen := make(map[string]bool)
	for _, b := range s.Baselines {
		if !validText(b.Identity) {
			return fmt.Errorf("baseline identity %q: empty or not printable", b.Identity)
		}
		if seen[b.Identity] {
			return fmt.Errorf("baseline %q recorded twice", b.Identity)
		}
		seen[b.Identity] = true
		if len(b.Patches) > maxPatches || len(b.Superseded) > maxSuperseded || len(b.HeldBack) > maxSuperseded {
			return fmt.Errorf("baseline %q: %d patches, %d superseded and %d held back, more than %d, %d and %d", b.Identity,
				len(b.Patches), len(b.Superseded), len(b.HeldBack), maxPatches, maxSuperseded, maxSuperseded)
		}
		ids := make(map[string]bool)
		for i, e := range b.Patches {
			switch {
			case e.Order != i+1:
				return fmt.Errorf("baseline %q: patch %d has order %d", b.Identity, i+1, e.Order)
			case !validText(e.ID) || ids[e.ID]:
				return fmt.Errorf("baseline %q: patch %d: ID %q empty, not printable or repeated", b.Identity, i+1, e.ID)
			case !validText(string(e.Kind)):
				return fmt.Errorf("baseline %q: patch %q: kind %q empty or not printable", b.Identity, e.ID, e.Kind)
			case e.SHA256 != "" && !validSum(e.SHA256):
				return fmt.Errorf("baseline %q: patch %q: sha256 %q is not 64 lower-case hex digits", b.Identity, e.ID, e.SHA256)
			case e.SHA256 != "" && !validBase(e.ID, e.Source, e.SHA256):
				return fmt.Errorf("baseline %q: patch %q: source %q cannot be a patch file's name", b.Identity, e.ID, e.Source)
			}
			ids[e.ID] = true
		}
		for _, x := range b.Superseded {
			if !validSum(x.SHA256) || !validText(x.ID) {
				return fmt.Errorf("baseline %q: superseded %q: bad sha256 %q", b.Identity, x.ID, x.SHA256)
			}
		}
		for _, x := range b.HeldBack {
			if !validSum(x.SHA256) || !validText(x.ID) {
				return fmt.Errorf("baseline %q: held back %q: bad sha256 %q", b.Identity, x.ID, x.SHA256)
			}
		}
	}
	return nil
}

func (s *state) find(identity string) *baselineRec {
	for i := range s.Baselines {
		if s.Baselines[i].Identity == identity {
			return &s.Baselines[i]
		}
	}
	return nil
}

// validToken reports whether s can be an owner token (see claim): it
// names a file in the state directory.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

func validSum(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validText(s string) bool {
	if s == "" || len(s) > 4096 {
		return false
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validBase reports whether a patch with a kept copy has the ID its
// loader gives that content under the source's base name (see
// [patchID]), a name the copy can take.
func validBase(id, source, sum string) bool {
	b := filepath.Base(source)
	if source == "" || b == "." || b == ".." || strings.ContainsAny(b, `/\`) {
		return false
	}
	if strings.HasSuffix(b, bundleExt) {
		// A bundle's ID is its manifest's, ID@VERSION; the loader checks
		// the copy's manifest again when it is applied.
		_, _, ok := bundle.SplitPatchID(id)
		return ok
	}
	return id == b+"-"+sum[:12]
}

// writeAtomic replaces dir/name with data (see package atomicfile); its
// temporary file is name.tmp-*, which Open removes when a crash left one.
func writeAtomic(dir, name string, data []byte, perm os.FileMode) error {
	return writeAtomicVia(dir, name+".tmp-*", dir, name, data, perm)
}

// writeAtomicVia is writeAtomic with the temporary file made in tmpDir
// (on the same file system as dir), named after pattern.
func writeAtomicVia(tmpDir, pattern, dir, name string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteBytes(filepath.Join(dir, name), data, atomicfile.Options{Perm: perm, TempDir: tmpDir, Pattern: pattern})
}
