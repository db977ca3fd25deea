package debugpage

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/memprobe"
)

// maxEvents bounds the recent events the page shows.
const maxEvents = 100

// Handler returns the page for m. Mount it under a path that ends in a
// slash (/debug/hotpatch/): the HTML page answers every path below it but
// status.json, which answers the same data as JSON, as does ?format=json.
func Handler(m *hotswap.Manager) http.Handler {
	return &handler{m: m}
}

type handler struct {
	m   *hotswap.Manager
	mem memprobe.Prober // reads the loaders' memory without waiting for a busy one
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debugpage: method "+r.Method+" not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	v := build(h.m, &h.mem, time.Now())
	var body bytes.Buffer
	if path.Base(r.URL.Path) == "status.json" || r.URL.Query().Get("format") == "json" {
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			http.Error(w, "debugpage: encoding the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
	} else {
		if err := page.Execute(&body, v); err != nil {
			http.Error(w, "debugpage: rendering the page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Nothing on the page runs: no script, no frame, no form.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
	}
	_, _ = w.Write(body.Bytes())
}

// view is what the page shows, and the JSON answer.
type view struct {
	Time       time.Time   `json:"time"`
	Generation uint64      `json:"generation"`
	Slots      []slotView  `json:"slots"`
	Stack      []patchView `json:"stack"` // bottom (oldest) first
	Probation  []probation `json:"probation"`
	Loaders    []loaderVw  `json:"loaders"`
	Events     []eventView `json:"events"` // newest first
}

type slotView struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Patch      string    `json:"patch"` // "" for the baseline
	Kind       string    `json:"kind"`  // "baseline" for the baseline
	Generation uint64    `json:"generation"`
	Since      time.Time `json:"since"`
	Failures   int64     `json:"failures"`
	Probation  string    `json:"probation,omitempty"` // "" when the slot is on no probation
}

type patchView struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Source     string    `json:"source"`
	Baseline   string    `json:"baseline,omitempty"`
	Slots      []string  `json:"slots"`
	Serving    []string  `json:"serving"`
	Generation uint64    `json:"generation"`
	AppliedAt  time.Time `json:"applied_at"`
}

// probation is one patch on probation.
type probation struct {
	Patch string `json:"patch"`
	State string `json:"state"`
}

type loaderVw struct {
	Kind   string      `json:"kind"`
	Memory *memoryView `json:"memory,omitempty"` // for loaders that count it (native)
	Busy   bool        `json:"busy,omitempty"`   // one that counts it did not answer in time
}

type memoryView struct {
	Used  int64 `json:"used"`
	Limit int64 `json:"limit"`
}

type eventView struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Class      string    `json:"-"` // the CSS class: the type if the page knows it, else "other"
	Generation uint64    `json:"generation"`
	Patch      string    `json:"patch,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Source     string    `json:"source,omitempty"`
	Slots      []string  `json:"slots,omitempty"`
	Note       string    `json:"note,omitempty"`
	Err        string    `json:"err,omitempty"`
}

// build reads the manager once into a view.
func build(m *hotswap.Manager, mem *memprobe.Prober, now time.Time) view {
	st := m.Status()
	v := view{Time: now, Generation: st.Generation, Slots: []slotView{}, Stack: []patchView{},
		Loaders: []loaderVw{}, Events: []eventView{}}
	for _, s := range st.Slots {
		sv := slotView{Name: s.Name, Type: s.Type, Patch: s.PatchID, Kind: string(s.Kind),
			Generation: s.Generation, Since: s.Since, Failures: s.Failures, Probation: slotProbation(s)}
		if s.PatchID == "" {
			sv.Kind = "baseline"
		}
		v.Slots = append(v.Slots, sv)
	}
	for _, p := range st.Stack {
		v.Stack = append(v.Stack, patchView{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Baseline: p.Baseline,
			Slots: nonNil(p.Slots), Serving: nonNil(p.Serving), Generation: p.Generation, AppliedAt: p.AppliedAt})
	}
	v.Probation = probations(st)
	for _, l := range m.Loaders() {
		lv := loaderVw{Kind: string(l.Kind())}
		if used, limit, ok := mem.Memory(l); ok {
			lv.Memory = &memoryView{Used: used, Limit: limit}
		} else if _, counts := l.(memprobe.Loader); counts {
			lv.Busy = true
		}
		v.Loaders = append(v.Loaders, lv)
	}
	hist := m.History()
	for _, e := range slices.Backward(hist[max(0, len(hist)-maxEvents):]) {
		ev := eventView{Time: e.Time, Type: string(e.Type), Class: eventClass(e.Type), Generation: e.Generation,
			Patch: e.PatchID, Kind: string(e.Kind), Source: e.Source, Slots: e.Slots, Note: e.Note}
		if e.Err != nil {
			ev.Err = e.Err.Error()
		}
		v.Events = append(v.Events, ev)
	}
	return v
}

// slotProbation says the probation state of the version serving a slot,
// "" for none. [hotswap.SlotStatus] does not report probation yet; once it
// does, this is the one place that reads it for the slots table.
func slotProbation(hotswap.SlotStatus) string { return "" }

// probations lists the patches on probation, for the probation section,
// or nil when there are none or the manager does not report them.
// [hotswap.Status] does not report probation yet; once it does, this is
// the one place that reads it for the page and the JSON.
func probations(hotswap.Status) []probation { return []probation{} }

// eventClass returns the CSS class of an event type: the page colours the
// types it knows, and shows any other as it is.
func eventClass(t hotswap.EventType) string {
	switch t {
	case hotswap.EventApplied, hotswap.EventReverted, hotswap.EventRolledBack, hotswap.EventRejected,
		hotswap.EventRetired, hotswap.EventRestarted, hotswap.EventWarning:
		return string(t)
	}
	return "other"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"ts":    func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000 MST") },
	"join":  shownList,
	"show":  shown,
	"mib":   func(n int64) string { return formatMiB(n) },
	"short": func(s string) string { return shorten(shown(s), 16) },
	"shadowed": func(p patchView) []string {
		var out []string
		for _, s := range p.Slots {
			if !slices.Contains(p.Serving, s) {
				out = append(out, s)
			}
		}
		return out
	},
}).Parse(pageHTML))

// shorten cuts s to n runes with an ellipsis; the title attribute keeps
// the whole.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
