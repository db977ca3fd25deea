package hotpatch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hotpatch-go/hotpatch/registry"
)

// Handler wraps h, an HTTP handler whose logic is the slot named slot, so
// that a bad patch cannot break the server: a panic in h is answered with
// 500 (if nothing was written yet) and logged with the serving patch.
// It is counted once against the patch, for Options.Rollback: the loaders
// report the failures of the patches they made themselves, and the
// handler reports only what no loader saw, a manual patch's panic (see
// [hotswap.Manager.Recovered]). http.ErrAbortHandler goes on up, as
// net/http expects.
func (rt *Runtime) Handler(slot string, h http.Handler) http.Handler {
	// The slot is looked up once, not on every request (Lookup takes the
	// registry's lock); a slot registered after this call is found on the
	// first request that sees it.
	var found atomic.Pointer[registry.Slot]
	if sl, ok := rt.reg.Lookup(slot); ok {
		found.Store(&sl)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The version serving when the request began: by the time a panic
		// is logged, its report may already have rolled the patch back.
		patch := ""
		sl := found.Load()
		if sl == nil {
			if s, ok := rt.reg.Lookup(slot); ok {
				sl = &s
				found.Store(sl)
			}
		}
		if sl != nil {
			patch = (*sl).Info().PatchID
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := fmt.Errorf("%s %s: %w", r.Method, r.URL.RequestURI(), rt.mgr.Recovered(slot, v))
			rt.log.Error("hotpatch: handler panicked", "slot", slot, "patch", patch, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h.ServeHTTP(w, r)
	})
}

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
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Source  string   `json:"source"`
	Serving []string `json:"serving"`
}

type eventJSON struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Generation uint64    `json:"generation"`
	Patch      string    `json:"patch,omitempty"`
	Source     string    `json:"source,omitempty"`
	Err        string    `json:"err,omitempty"`
	Note       string    `json:"note,omitempty"`
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
		out.Stack = append(out.Stack, patchJSON{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Serving: serving})
	}
	hist := rt.mgr.History()
	for _, e := range hist[max(0, len(hist)-statusEvents):] {
		ej := eventJSON{Time: e.Time, Type: string(e.Type), Generation: e.Generation, Patch: e.PatchID, Source: e.Source, Note: e.Note}
		if e.Err != nil {
			ej.Err = e.Err.Error()
		}
		out.Events = append(out.Events, ej)
	}
	return out
}
