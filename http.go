package hotpatch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// Handler wraps h, an HTTP handler whose logic is the slot named slot, so
// that a bad patch cannot break the server and is judged by what it
// serves. Each request is one call of the version serving the slot when
// the request began ([hotswap.Manager.Begin]), counted for the patch's
// probation (Options.Rollback):
//
//   - a panic in h is recovered, logged with the patch that served, and
//     counted as one failure unless the patch's loader counted it already
//     (a script's or native patch's panic, a process patch's call error:
//     see [hotswap.Call.Panic]). If nothing was written yet, the client
//     gets 500; if the response had begun (or the connection was
//     hijacked), Handler panics with http.ErrAbortHandler, so that net/http
//     cuts the response (HTTP/1.1 closes the connection, HTTP/2 resets the
//     stream) instead of ending it as if it were whole;
//   - a response with a 5xx status is one failure, unless the request's
//     context had ended when h returned (the client went away: a proxy's
//     502 for its cancelled upstream call is not the patch's fault);
//   - anything else (2xx, 3xx, 4xx: the client's fault, a response never
//     written: an implicit 200, a hijacked connection) is a success, as is
//     http.ErrAbortHandler, which goes on up as net/http expects. Only the
//     first final status counts, as net/http sends only that one.
//
// The writer h gets passes Flush, http.Hijacker and, through Unwrap,
// http.ResponseController's features on to the server's writer.
//
// A request that begins while its patch is being rolled back waits for the
// revert (see Begin), so a patch that fails every request fails at most its
// threshold plus the requests in flight when it was crossed.
//
// h gets the request with its context marked ([hotswap.Call.Within]): a
// feeder of the same slot inside h (a [hotswap.Manager.Guard] given
// r.Context()) counts nothing, and a Handler of the same slot inside h (a
// wrap twice) passes the request through, panics included; the request
// counts once, here, with the status h answers. Feeders of
// different slots nested count each: a 5xx that the inner one answers
// counts against both slots' patches.
//
// Handler panics if h is nil, as http.Handle does. A slot that is not
// registered yet is logged at warn level: until it is, its requests count
// for no patch.
func (rt *Runtime) Handler(slot string, h http.Handler) http.Handler {
	if h == nil {
		panic(fmt.Sprintf("hotpatch: Handler for slot %q: nil handler", slot))
	}
	if _, ok := rt.mgr.Slot(slot); !ok {
		rt.log.Warn("hotpatch: Handler for a slot that is not registered; its requests count for no patch until it is (a typo?)", "slot", slot)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := rt.mgr.Begin(r.Context(), slot)
		if c.Nested() {
			// Wrapped twice (a router's wrap around the route's own):
			// the outer one counts the request, and recovers its panic.
			h.ServeHTTP(w, r)
			return
		}
		if ctx := c.Within(r.Context()); ctx != r.Context() {
			// Feeders of slot inside h (Guard) count nothing: this one
			// counts the request, once.
			r = r.WithContext(ctx)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				var err error
				if sw.status >= 500 && r.Context().Err() == nil {
					err = &statusError{code: sw.status}
				}
				c.End(err)
				return
			}
			if v == http.ErrAbortHandler {
				c.End(nil)
				panic(v)
			}
			err := fmt.Errorf("%s %s: %w", r.Method, r.URL.RequestURI(), c.Panic(v))
			rt.log.Error("hotpatch: handler panicked", "slot", slot, "patch", c.PatchID(), "err", err)
			if sw.status != 0 || sw.hijacked {
				panic(http.ErrAbortHandler) // the response began: cut it
			}
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusError is the failure of a request answered with a 5xx status.
type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// statusWriter notes the status of a response. Unwrap lets
// http.ResponseController reach the writer's other features; Flush and
// Hijack are passed on, as handlers often look for http.Flusher and
// http.Hijacker (websocket libraries).
type statusWriter struct {
	http.ResponseWriter
	status   int  // the status written, 0 while nothing was
	hijacked bool // the handler took the connection over
}

// WriteHeader notes the first final status: 1xx are informational, except
// 101 Switching Protocols, which net/http sends as the final one.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over, when the server's writer can (not
// over HTTP/2: the error wraps http.ErrNotSupported).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StatusHandler serves what runs: the generation, every slot with the patch
// serving it, the patch stack and the most recent events (errors included),
// as JSON. It exposes patch sources and error texts: mount it where only
// operators reach it.
func (rt *Runtime) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		body, err := json.MarshalIndent(rt.status(), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
}

// statusEvents bounds the events StatusHandler shows.
const statusEvents = 50

// statusJSON is the answer of StatusHandler.
type statusJSON struct {
	Generation uint64      `json:"generation"`
	Slots      []slotJSON  `json:"slots"`
	Stack      []patchJSON `json:"stack"`
	Events     []eventJSON `json:"events"` // the most recent last
}

type slotJSON struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Patch      string `json:"patch,omitempty"` // "" for the baseline
	Kind       string `json:"kind,omitempty"`
	Generation uint64 `json:"generation"`
	Failures   int64  `json:"failures,omitempty"`
}

type patchJSON struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Source    string         `json:"source"`
	Serving   []string       `json:"serving"`
	Probation *probationJSON `json:"probation,omitempty"` // absent without a rollback policy
}

// probationJSON is a patch's probation: its state, when the window ends,
// the counts so far and the thresholds.
type probationJSON struct {
	State     string    `json:"state"` // on-probation, committed, rolled-back
	Until     time.Time `json:"until"`
	Calls     int64     `json:"calls"`
	Failures  int64     `json:"failures"`
	Threshold struct {
		Failures int     `json:"failures,omitempty"`
		Ratio    float64 `json:"ratio,omitempty"`
		MinCalls int     `json:"min_calls"`
		Window   string  `json:"window"`
	} `json:"threshold"`
}

func newProbationJSON(p *hotswap.Probation) *probationJSON {
	if p == nil {
		return nil
	}
	pj := &probationJSON{State: string(p.State), Until: p.Until, Calls: p.Calls, Failures: p.Failures}
	pj.Threshold.Failures = max(p.Policy.Failures, 0)
	pj.Threshold.Ratio = max(p.Policy.Ratio, 0)
	pj.Threshold.MinCalls = p.Policy.MinCalls
	pj.Threshold.Window = p.Policy.Window.String()
	return pj
}

type eventJSON struct {
	Time       time.Time      `json:"time"`
	Type       string         `json:"type"`
	Generation uint64         `json:"generation"`
	Patch      string         `json:"patch,omitempty"`
	Source     string         `json:"source,omitempty"`
	Err        string         `json:"err,omitempty"`
	Note       string         `json:"note,omitempty"`
	Probation  *probationJSON `json:"probation,omitempty"` // the evidence of committed and rolled-back events
}

func (rt *Runtime) status() statusJSON {
	st := rt.mgr.Status()
	out := statusJSON{Generation: st.Generation, Slots: []slotJSON{}, Stack: []patchJSON{}, Events: []eventJSON{}}
	for _, sl := range st.Slots {
		out.Slots = append(out.Slots, slotJSON{Name: sl.Name, Type: sl.Type, Patch: sl.PatchID, Kind: string(sl.Kind), Generation: sl.Generation, Failures: sl.Failures})
	}
	for _, p := range st.Stack {
		serving := p.Serving
		if serving == nil {
			serving = []string{}
		}
		out.Stack = append(out.Stack, patchJSON{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Serving: serving,
			Probation: newProbationJSON(p.Probation)})
	}
	hist := rt.mgr.History()
	for _, e := range hist[max(0, len(hist)-statusEvents):] {
		ej := eventJSON{Time: e.Time, Type: string(e.Type), Generation: e.Generation, Patch: e.PatchID, Source: e.Source, Note: e.Note,
			Probation: newProbationJSON(e.Probation)}
		if e.Err != nil {
			ej.Err = e.Err.Error()
		}
		out.Events = append(out.Events, ej)
	}
	return out
}
