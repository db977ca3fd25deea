package debugpage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"slices"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/memprobe"
	"github.com/hotpatch-go/hotpatch/internal/textcap"
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
	Probation  string    `json:"probation,omitempty"` // the serving patch's probation on one line; "" for none
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

// probation is the probation of one patch in the stack, or the evidence
// of a committed or rolled-back event.
type probation struct {
	Patch     string        `json:"patch"`
	Kind      string        `json:"kind,omitempty"`
	State     string        `json:"state"` // on-probation, committed, rolled-back
	Start     time.Time     `json:"start"`
	Until     time.Time     `json:"until"`
	Left      time.Duration `json:"left_ns"` // until the window ends, at the page's time; 0 once it ended
	Calls     int64         `json:"calls"`
	Failures  int64         `json:"failures"`
	Threshold threshold     `json:"threshold"`
}

// threshold is a rollback policy as the page shows it.
type threshold struct {
	Failures int           `json:"failures,omitempty"` // 0: no count threshold
	Ratio    float64       `json:"ratio,omitempty"`    // 0: no ratio threshold
	MinCalls int           `json:"min_calls"`
	Window   time.Duration `json:"window_ns"`
	Text     string        `json:"text"` // as the manager's events say it
}

// newProbation returns p as the page shows it, at now; nil for nil.
func newProbation(id string, kind hotswap.Kind, p *hotswap.Probation, now time.Time) *probation {
	if p == nil {
		return nil
	}
	pv := &probation{Patch: id, Kind: string(kind), State: string(p.State), Start: p.Start, Until: p.Until,
		Calls: p.Calls, Failures: p.Failures,
		Threshold: threshold{Failures: max(p.Policy.Failures, 0), Ratio: max(p.Policy.Ratio, 0),
			MinCalls: p.Policy.MinCalls, Window: p.Policy.Window, Text: p.Policy.String()}}
	if p.State == hotswap.ProbationActive {
		pv.Left = max(p.Until.Sub(now), 0)
	}
	return pv
}

// Summary is the probation on one line, for the slots table and the
// events table: the state, the counts, the time left.
func (p *probation) Summary() string {
	s := fmt.Sprintf("%s: %s in %s", p.State, counted(p.Failures, "failure"), counted(p.Calls, "call"))
	if p.State == string(hotswap.ProbationActive) {
		s += fmt.Sprintf(", %s left", p.Left.Round(time.Second))
	}
	return s
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
	Time       time.Time     `json:"time"`
	Type       string        `json:"type"`
	Class      string        `json:"-"` // the CSS class: the type if the page knows it, else "other"
	Generation uint64        `json:"generation"`
	Patch      string        `json:"patch,omitempty"`
	Kind       string        `json:"kind,omitempty"`
	Source     string        `json:"source,omitempty"`
	Slots      []string      `json:"slots,omitempty"`
	Note       string        `json:"note,omitempty"`
	Err        string        `json:"err,omitempty"`
	Probation  *probation    `json:"probation,omitempty"` // the evidence of committed and rolled-back events
	Took       time.Duration `json:"took_ns,omitempty"`   // for applied events: from the start of the load, or Apply, to the swap
}

// build reads the manager once into a view.
func build(m *hotswap.Manager, mem *memprobe.Prober, now time.Time) view {
	st := m.Status()
	v := view{Time: now, Generation: st.Generation, Slots: []slotView{}, Stack: []patchView{},
		Loaders: []loaderVw{}, Events: []eventView{}}
	for _, s := range st.Slots {
		sv := slotView{Name: s.Name, Type: s.Type, Patch: s.PatchID, Kind: string(s.Kind),
			Generation: s.Generation, Since: s.Since, Failures: s.Failures, Probation: slotProbation(st, s, now)}
		if s.PatchID == "" {
			sv.Kind = "baseline"
		}
		v.Slots = append(v.Slots, sv)
	}
	for _, p := range st.Stack {
		v.Stack = append(v.Stack, patchView{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Baseline: p.Baseline,
			Slots: nonNil(p.Slots), Serving: nonNil(p.Serving), Generation: p.Generation, AppliedAt: p.AppliedAt})
	}
	v.Probation = probations(st, now)
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
			Patch: e.PatchID, Kind: string(e.Kind), Source: e.Source, Slots: e.Slots, Note: e.Note,
			Probation: newProbation(e.PatchID, e.Kind, e.Probation, now), Took: e.Took}
		if e.Err != nil {
			ev.Err = textcap.Clip(e.Err.Error(), textcap.ErrMax)
		}
		v.Events = append(v.Events, ev)
	}
	return v
}

// slotProbation says the probation of the patch serving a slot, on one
// line, "" for the baseline or a patch on no probation. The manager counts
// per patch, across its slots: every slot a patch serves shows the same.
func slotProbation(st hotswap.Status, s hotswap.SlotStatus, now time.Time) string {
	if s.PatchID == "" {
		return ""
	}
	for _, p := range st.Stack {
		if p.ID == s.PatchID {
			if pv := newProbation(p.ID, p.Kind, p.Probation, now); pv != nil {
				return pv.Summary()
			}
			return ""
		}
	}
	return ""
}

// probations lists the probations of the patches in the stack, bottom
// first: those on probation and those committed (whose failures still
// count, and no longer roll them back). A manager without a rollback
// policy puts no patch on probation: the list is empty.
func probations(st hotswap.Status, now time.Time) []probation {
	out := []probation{}
	for _, p := range st.Stack {
		if pv := newProbation(p.ID, p.Kind, p.Probation, now); pv != nil {
			out = append(out, *pv)
		}
	}
	return out
}

// eventClass returns the CSS class of an event type: the page colours the
// types it knows, and shows any other as it is.
func eventClass(t hotswap.EventType) string {
	switch t {
	case hotswap.EventApplied, hotswap.EventReverted, hotswap.EventRolledBack, hotswap.EventRejected,
		hotswap.EventRetired, hotswap.EventRestarted, hotswap.EventWarning, hotswap.EventCommitted:
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
	"ts":      func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000 MST") },
	"join":    shownList,
	"show":    shown,
	"mib":     func(n int64) string { return formatMiB(n) },
	"dur":     func(d time.Duration) string { return d.Round(time.Second).String() },
	"counted": counted,
	"short":   func(s string) string { return shorten(shown(s), 16) },
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

// counted says n of noun, in the plural unless n is 1.
func counted(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
