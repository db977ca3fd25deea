package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// The journal (package baseline/journal) keeps a copy of a patch file
// only when the patch's ID is the one the kind loaders give that file
// (name and content); a bundle's patch is named by its manifest
// ("greet@3"), so the journal records a pushed bundle without a copy and
// could not apply it again. Until it can, the server keeps its own
// record of the pushed patches applied now: record.json beside them, in
// stack order, with the journal's baseline identity, replaced as a whole
// (written, synced, renamed) before a push answers. [Start] applies them
// again on the same baseline; on another one they are superseded, as the
// journal's rules say.

const recordFile = "record.json"

// EventPushedSuperseded records pushed patches of an older baseline that
// are not applied again; EventPushedLost one that could not be.
const (
	EventPushedSuperseded hotswap.EventType = "pushed-superseded"
	EventPushedLost       hotswap.EventType = "pushed-lost"
)

// replayTimeout bounds the load and apply of each patch applied again.
const replayTimeout = time.Minute

type record struct {
	Identity string        `json:"identity"`
	Patches  []recordEntry `json:"patches"`
}

type recordEntry struct {
	ID   string `json:"id"`
	File string `json:"file"` // base name in the pushed directory
}

func (s *Server) pushedDir() string { return filepath.Join(s.tgt.Journal.Dir(), PushedDir) }

// replayPushed applies again, at Start, the pushed patches the record
// holds for this baseline, and starts following the manager's reverts.
func (s *Server) replayPushed() {
	if s.tgt.Journal == nil || s.tgt.Bundles == nil {
		return
	}
	mgr := s.tgt.Manager
	ident := s.tgt.Journal.Identity()
	rec, err := s.readRecord()
	if err != nil {
		_ = mgr.Record(hotswap.Event{Type: EventPushedLost, Err: fmt.Errorf("admin: the record of pushed patches: %w; nothing pushed is applied again", err)})
		rec = record{}
	}
	var keep []recordEntry
	if rec.Identity != "" && rec.Identity != ident && len(rec.Patches) > 0 {
		ids := make([]string, len(rec.Patches))
		for i, e := range rec.Patches {
			ids[i] = e.ID
		}
		_ = mgr.Record(hotswap.Event{Type: EventPushedSuperseded, Note: fmt.Sprintf("pushed patches %v of baseline %.20s are not applied again on baseline %.20s", ids, rec.Identity, ident)})
	} else {
		applied := map[string]bool{}
		for _, p := range mgr.Status().Stack {
			applied[p.ID] = true
		}
		for _, e := range rec.Patches {
			if applied[e.ID] {
				keep = append(keep, e)
				continue
			}
			if err := s.replayOne(e); err != nil {
				_ = mgr.Record(hotswap.Event{Type: EventPushedLost, PatchID: e.ID, Source: filepath.Join(s.pushedDir(), e.File),
					Err: fmt.Errorf("admin: pushed patch %s not applied again: %w", e.ID, err)})
				continue
			}
			keep = append(keep, e)
		}
	}
	s.rec = record{Identity: ident, Patches: keep}
	if err := s.writeRecord(); err != nil {
		s.log.Warn("admin: record of pushed patches", "err", err)
	}
	ch, cancel := mgr.Subscribe(256)
	s.wg.Add(1)
	go s.follow(ch, cancel)
}

func (s *Server) replayOne(e recordEntry) error {
	if e.File != filepath.Base(e.File) {
		return fmt.Errorf("bad file name %q in %s", e.File, recordFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	mgr := s.tgt.Manager
	p, err := mgr.Load(ctx, s.tgt.Bundles, filepath.Join(s.pushedDir(), e.File))
	if err != nil {
		return err
	}
	if p.ID != e.ID {
		_ = mgr.Release(p)
		return fmt.Errorf("the file %s holds %s", e.File, p.ID)
	}
	if _, err := mgr.Apply(ctx, p); err != nil {
		_ = mgr.Release(p)
		return err
	}
	return nil
}

// follow drops from the record the pushed patches reverted or rolled
// back, whoever did it, until Close. The reverts of the manager's Close
// (a Note, no error) keep the record for the next start.
func (s *Server) follow(ch <-chan hotswap.Event, cancel func()) {
	defer s.wg.Done()
	defer cancel()
	for {
		select {
		case <-s.done:
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			if e.Type != hotswap.EventReverted && e.Type != hotswap.EventRolledBack || e.Type == hotswap.EventReverted && e.Note != "" && e.Err == nil {
				continue
			}
			s.recMu.Lock()
			if s.dropLocked(e.PatchID) {
				if err := s.writeRecord(); err != nil {
					s.log.Warn("admin: record of pushed patches", "err", err)
				}
			}
			s.recMu.Unlock()
		}
	}
}

// dropLocked removes id from the record; the caller holds recMu.
func (s *Server) dropLocked(id string) bool {
	n := len(s.rec.Patches)
	s.rec.Patches = slices.DeleteFunc(s.rec.Patches, func(e recordEntry) bool { return e.ID == id })
	return len(s.rec.Patches) != n
}

func (s *Server) readRecord() (record, error) {
	var rec record
	data, err := os.ReadFile(filepath.Join(s.pushedDir(), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return record{}, fmt.Errorf("%s: %w", recordFile, err)
	}
	return rec, nil
}

// writeRecord replaces the record file with s.rec; the caller holds
// recMu (or is Start, before any request).
func (s *Server) writeRecord() error {
	data, err := json.MarshalIndent(s.rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(s.pushedDir(), recordFile, data)
}

// writeFile replaces dir/name with data: a temporary file, synced,
// renamed, the directory synced, so a crash leaves the old or the new.
func writeFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
