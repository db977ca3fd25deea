package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/atomicfile"
)

// PushedDir is the directory of the state directory that keeps pushed
// bundles, each as <sha256>.hpatch.
const PushedDir = "pushed"

// push stores the bundle in the body under the state directory, loads it
// with the bundle loader, applies it, and answers once the journal holds
// it: a crash after the answer applies it again at the next start.
func (s *Server) push(w http.ResponseWriter, r *http.Request, who string) {
	code, res, err := s.pushBody(w, r)
	s.audit(who, "push", res.ID, err)
	if err != nil {
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) pushBody(w http.ResponseWriter, r *http.Request) (int, api.PushResult, error) {
	var res api.PushResult
	if s.tgt.Bundles == nil {
		return http.StatusNotImplemented, res, errors.New("push: bundles are off in this server (hotpatch.Options.Bundles)")
	}
	if s.tgt.Journal == nil {
		return http.StatusNotImplemented, res, errors.New("push: this server has no state directory, so a pushed patch would not survive a restart (hotpatch.Options.StateDir)")
	}
	s.bodyDeadline(w)
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxPush))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, res, fmt.Errorf("push: the bundle is over the limit of %d bytes (admin.Options.MaxPush)", s.opts.MaxPush)
	case err != nil:
		return http.StatusBadRequest, res, fmt.Errorf("push: reading the body: %w", err)
	case len(data) == 0:
		return http.StatusBadRequest, res, errors.New("push: empty body; send the bytes of a *.hpatch bundle")
	}
	sum := sha256.Sum256(data)
	res.SHA256 = hex.EncodeToString(sum[:])
	path, release, err := s.store(res.SHA256, data)
	if err != nil {
		return http.StatusInternalServerError, res, err
	}
	res.Stored = path
	applied := false
	defer func() { release(applied) }()
	mgr := s.tgt.Manager
	p, err := mgr.Load(r.Context(), s.tgt.Bundles, path)
	if err != nil {
		// As for a bundle dropped into the patch directory: a refusal
		// before Apply is a rejected event (metrics, debug page, event
		// stream), not only an audit record. Apply records its own.
		_ = mgr.Record(hotswap.Event{Type: hotswap.EventRejected, Kind: s.tgt.Bundles.Kind(), Source: path, Err: fmt.Errorf("push: %w", err)})
		if errors.Is(err, bundle.ErrReplay) {
			return http.StatusConflict, res, fmt.Errorf("push: %w", err)
		}
		return http.StatusUnprocessableEntity, res, fmt.Errorf("push: %w", err)
	}
	res.ID, res.Kind = p.ID, string(p.Kind)
	if id, _, ok := bundle.SplitPatchID(p.ID); ok {
		for _, q := range mgr.Status().Stack {
			if qid, _, ok := bundle.SplitPatchID(q.ID); ok && qid == id && q.ID != p.ID {
				p.Replaces, res.Replaced = q.ID, q.ID
			}
		}
	}
	a, err := mgr.Apply(r.Context(), p)
	if err != nil {
		_ = mgr.Release(p)
		code := http.StatusUnprocessableEntity
		if errors.Is(err, hotswap.ErrDuplicateID) || errors.Is(err, bundle.ErrReplay) {
			code = http.StatusConflict
		}
		return code, res, fmt.Errorf("push: %w", err)
	}
	applied = true
	res.Generation = a.Generation
	if err := s.tgt.Journal.SyncTo(r.Context(), a.Generation); errors.Is(err, journal.ErrTakenOver) || errors.Is(err, journal.ErrClosed) {
		// A baseline step's new process took the state directory over (or
		// this one handed over, or stops, and closed its journal): the
		// process that serves next does so without this patch. A refused
		// push changes nothing here either, unless it replaced a version
		// (a newer one of the same bundle ID): that one left the stack
		// and was retired, and a revert would have this process, which
		// still serves, serve the baseline. The new version is kept here.
		if p.Replaces != "" {
			return http.StatusConflict, res, fmt.Errorf("push: a baseline step is under way (or this process stops): this process no longer records its patches, so %s is not kept: it serves in this process only, until it stops (it replaced %s, which a revert would not bring back), and the process that serves next serves %s; push it again once the new process serves (hotpatch status shows its pid): %w", p.ID, p.Replaces, p.Replaces, err)
		}
		if rerr := mgr.Revert(context.WithoutCancel(r.Context()), p.ID); rerr != nil {
			return http.StatusInternalServerError, res, fmt.Errorf("push: %s is applied in this process only, which is being replaced or stopped, and reverting it failed: %w (journal: %w)", p.ID, rerr, err)
		}
		applied = false
		return http.StatusConflict, res, fmt.Errorf("push: a baseline step is under way (or this process stops): this process no longer records its patches, so %s is not kept (reverted here); push it again once the new process serves (hotpatch status shows its pid): %w", p.ID, err)
	} else if err != nil {
		return http.StatusInternalServerError, res, fmt.Errorf("push: %s is applied but the journal did not record it, so a restart would lose it: %w", p.ID, err)
	}
	return 0, res, nil
}

// store writes data to <state>/pushed/<sum>.hpatch, unless it is there
// already, and returns its path and the release the caller must call
// once done with it, saying whether the bundle was applied. A file that
// a push created is removed when the last push of the same bytes in
// flight releases it and none of them applied it; concurrent pushes of
// one bundle share the file (one that failed removed it under another's
// load before).
func (s *Server) store(sum string, data []byte) (string, func(applied bool), error) {
	dir := s.pushedDir()
	name := sum + bundle.Ext
	path := filepath.Join(dir, name)
	s.pushM.Lock()
	defer s.pushM.Unlock()
	ref := s.pushRefs[sum]
	if ref == nil {
		ref = &pushRef{}
		if _, err := os.Lstat(path); err != nil {
			if err := writeFile(dir, name, data); err != nil {
				return "", nil, fmt.Errorf("push: storing the bundle: %w", err)
			}
			ref.created = true
		}
		if s.pushRefs == nil {
			s.pushRefs = map[string]*pushRef{}
		}
		s.pushRefs[sum] = ref
	}
	ref.users++
	release := func(applied bool) {
		s.pushM.Lock()
		defer s.pushM.Unlock()
		ref.applied = ref.applied || applied
		if ref.users--; ref.users > 0 {
			return
		}
		delete(s.pushRefs, sum)
		if ref.created && !ref.applied {
			_ = os.Remove(path)
		}
	}
	return path, release, nil
}

// pushRef is a stored bundle that pushes in flight use.
type pushRef struct {
	users   int  // pushes in flight that use the file
	created bool // one of them wrote it (it was not there before)
	applied bool // one of them applied it
}

func (s *Server) pushedDir() string { return filepath.Join(s.tgt.Journal.Dir(), PushedDir) }

// writeFile replaces dir/name with data, whole (see package atomicfile),
// making dir (0700) first.
func writeFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, name), data, atomicfile.Options{Pattern: ".tmp-*"})
}
