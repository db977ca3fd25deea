package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/baseline"
	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/textcap"
)

// handler routes the endpoints behind auth.
func (s *Server) handler(auth func(*http.Request) (string, int, error)) http.Handler {
	mux := http.NewServeMux()
	allow := map[string]string{} // path: its method
	// crossOrigin refuses the changes a browser marks as coming from a
	// page of another site; clients that are not browsers send neither
	// header it reads (Sec-Fetch-Site, Origin) and pass.
	crossOrigin := http.NewCrossOriginProtection()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request, who string)) {
		method, path, ok := strings.Cut(pattern, " ")
		if ok {
			allow[path] = method
		}
		what := mutating[path]
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			who, code, err := auth(r)
			if err != nil {
				s.log.Warn("admin: request refused", "method", r.Method, "path", r.URL.Path,
					"remote", r.RemoteAddr, "who", who, "status", code, "err", err)
				if what != "" {
					if who == "" {
						who = "unauthenticated " + r.RemoteAddr
					}
					s.audit(who, what, "", fmt.Errorf("refused: %w", err))
				}
				if code == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="hotpatch"`)
				}
				writeError(w, code, fmt.Errorf("refused: %w", err))
				return
			}
			if what != "" {
				if err := crossOrigin.Check(r); err != nil {
					// A browser that holds the client certificate sends
					// it with any page's request, and a page of another
					// site may POST text/plain without a preflight.
					err = fmt.Errorf("refused: a request from a browser page of another site (Origin %q, Sec-Fetch-Site %q): %w",
						r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"), err)
					s.log.Warn("admin: request refused", "method", r.Method, "path", r.URL.Path,
						"remote", r.RemoteAddr, "who", who, "status", http.StatusForbidden, "err", err)
					s.audit(who, what, "", err)
					writeError(w, http.StatusForbidden, err)
					return
				}
			}
			h(w, r, who)
		})
	}
	route("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request, _ string) { writeJSON(w, http.StatusOK, s.status()) })
	route("GET "+api.PathHistory, func(w http.ResponseWriter, r *http.Request, _ string) {
		writeJSON(w, http.StatusOK, api.History{Events: convertEvents(s.tgt.Manager.History())})
	})
	route("GET "+api.PathEvents, s.events)
	route("POST "+api.PathPush, s.push)
	route("POST "+api.PathRevert, s.revert)
	route("POST "+api.PathRestart, s.restart)
	route("/", func(w http.ResponseWriter, r *http.Request, _ string) {
		if m, ok := allow[r.URL.Path]; ok {
			if m == http.MethodGet {
				m += ", " + http.MethodHead
			}
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: the method must be %s", r.Method, r.URL.Path, m))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// mutating names the calls that change the server, for the audit.
var mutating = map[string]string{api.PathPush: "push", api.PathRevert: "revert", api.PathRestart: "restart"}

func (s *Server) status() api.Status {
	st := s.tgt.Manager.Status()
	out := api.Status{
		Generation: st.Generation,
		PID:        os.Getpid(),
		Baseline:   api.Baseline{Fingerprint: s.tgt.Fingerprint},
		Slots:      make([]api.Slot, 0, len(st.Slots)),
		Stack:      make([]api.Patch, 0, len(st.Stack)),
		Restart:    s.tgt.Restarter != nil,
	}
	if j := s.tgt.Journal; j != nil {
		out.Baseline.Identity, out.Baseline.StateDir = j.Identity(), j.Dir()
	}
	for _, sl := range st.Slots {
		out.Slots = append(out.Slots, api.Slot{Name: sl.Name, Type: sl.Type, PatchID: sl.PatchID, Kind: string(sl.Kind),
			Generation: sl.Generation, Since: sl.Since, Failures: sl.Failures})
	}
	for _, p := range st.Stack {
		ap := api.Patch{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Baseline: p.Baseline, Slots: p.Slots,
			Serving: p.Serving, Generation: p.Generation, AppliedAt: p.AppliedAt}
		if pr := p.Probation; pr != nil {
			ap.Probation = &api.Probation{State: fmt.Sprint(pr.State), Start: pr.Start, Until: pr.Until, Calls: pr.Calls, Failures: pr.Failures}
		}
		out.Stack = append(out.Stack, ap)
	}
	return out
}

func convertEvent(e hotswap.Event) api.Event {
	ae := api.Event{Type: string(e.Type), Time: e.Time, Generation: e.Generation, PatchID: e.PatchID, Kind: string(e.Kind),
		Source: e.Source, Slots: e.Slots, Note: e.Note, TookNS: int64(e.Took)}
	if e.Err != nil {
		ae.Err = textcap.Clip(e.Err.Error(), textcap.ErrMax)
	}
	return ae
}

func convertEvents(evs []hotswap.Event) []api.Event {
	out := make([]api.Event, len(evs))
	for i, e := range evs {
		out[i] = convertEvent(e)
	}
	return out
}

// errStepUnderWay: a change could not be recorded because a baseline
// step's new process took the state directory over, or this process
// handed over and closed its journal.
var errStepUnderWay = errors.New("a baseline step is under way (or this process stops): this process no longer records its patches")

func (s *Server) revert(w http.ResponseWriter, r *http.Request, who string) {
	var req api.RevertRequest
	s.bodyDeadline(w)
	if err := decodeOne(http.MaxBytesReader(w, r.Body, 64<<10), &req); err != nil || req.ID == "" {
		if err == nil {
			err = errors.New(`no "id"`)
		}
		err = fmt.Errorf("revert: the body must be {\"id\": \"PATCH-ID\"}: %w", err)
		s.audit(who, "revert", "", err)
		writeError(w, http.StatusBadRequest, err)
		return
	}
	err := s.revertPatch(r.Context(), req.ID)
	s.audit(who, "revert", req.ID, err)
	switch {
	case errors.Is(err, hotswap.ErrUnknownPatch):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, errStepUnderWay):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, api.Result{OK: true, Note: "reverted " + req.ID})
	}
}

// revertPatch reverts id and, before it returns, waits for the journal:
// a crash after the answer does not bring the patch back.
func (s *Server) revertPatch(ctx context.Context, id string) error {
	if err := s.tgt.Manager.Revert(ctx, id); err != nil {
		return err
	}
	if j := s.tgt.Journal; j != nil {
		if err := j.Sync(ctx); errors.Is(err, journal.ErrTakenOver) || errors.Is(err, journal.ErrClosed) {
			return fmt.Errorf("revert: %w: %s is reverted in this process only; the process that serves next applies it (its journal holds it): revert it again once the new process serves (hotpatch status shows its pid): %w", errStepUnderWay, id, err)
		} else if err != nil {
			return fmt.Errorf("revert: %s is reverted but the journal did not record it, so a restart would apply it again: %w", id, err)
		}
	}
	return nil
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request, who string) {
	if s.tgt.Restarter == nil {
		err := errors.New("restart: the baseline step is off (hotpatch.Options.Baseline)")
		s.audit(who, "restart", "", err)
		writeError(w, http.StatusNotImplemented, err)
		return
	}
	err := s.tgt.Restarter.Restart(r.Context())
	s.audit(who, "restart", "", err)
	switch {
	case errors.Is(err, baseline.ErrRestartInProgress):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, api.Result{OK: true, Note: "the new process is ready; this one drains and exits"})
	}
}

// events streams the manager's events as server-sent events until the
// client goes or the server closes.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ string) {
	ch, cancel := s.tgt.Manager.Subscribe(256)
	defer cancel()
	rc := http.NewResponseController(w)
	// A client that stops reading blocks a write at most streamWrite; at
	// Close, at most a moment, so that it does not hold Close up.
	stop := context.AfterFunc(s.closing, func() { _ = rc.SetWriteDeadline(time.Now().Add(time.Second)) })
	defer stop()
	send := func(format string, args ...any) bool {
		select {
		case <-s.closing.Done():
		default:
			_ = rc.SetWriteDeadline(time.Now().Add(streamWrite))
		}
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if !send(": hotpatch events\n\n") {
		return
	}
	keep := time.NewTicker(30 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing.Done():
			send("event: end\ndata: {}\n\n")
			return
		case <-keep.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case e, ok := <-ch:
			if !ok {
				send("event: end\ndata: {}\n\n")
				return
			}
			b, _ := json.Marshal(convertEvent(e))
			// The event's type names the SSE event; a type an application
			// recorded with a line break in it would end the field and
			// forge others, so breaks become spaces (the data has it as is).
			if !send("event: %s\ndata: %s\n\n", sseField(string(e.Type)), b) {
				return
			}
		}
	}
}

// sseField makes s one line, as a server-sent event's field must be.
func sseField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// decodeOne decodes the one JSON object of r into v: an unknown field or
// anything after it is an error, so that a request is done as sent or
// not at all.
func decodeOne(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more after the object")
	}
	return nil
}

// bodyDeadline bounds the reading of the request's body
// (Options.BodyTimeout); past it the connection is closed.
func (s *Server) bodyDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
}

// audit records a mutating call: an event of type [api.EventAudit] in the
// manager's history and a record of the logger.
func (s *Server) audit(who, what, patchID string, err error) {
	result := "ok"
	if err != nil {
		result = "refused"
	}
	note := fmt.Sprintf("%s: %s", who, what)
	if patchID != "" {
		note += " " + patchID
	}
	note += ": " + result
	if err != nil {
		s.log.Warn("admin: audit", "who", who, "what", what, "patch", patchID, "result", result, "err", err)
	} else {
		s.log.Info("admin: audit", "who", who, "what", what, "patch", patchID, "result", result)
	}
	if rerr := s.tgt.Manager.Record(hotswap.Event{Type: api.EventAudit, Time: time.Now(), PatchID: patchID, Note: note, Err: err}); rerr != nil {
		s.log.Warn("admin: audit record", "err", rerr)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error(), Code: code})
}
