package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/memprobe"
)

// subscribeBuffer is the room for events between two reads of the
// collector's goroutine; it reads quickly, so only a burst of this many
// events at once can make it miss some.
const subscribeBuffer = 1024

// maxEventTypes bounds the type label of hotpatch_events_total: types are
// open (loaders and tools record their own), so past this many distinct
// types, the rest count as "other".
const maxEventTypes = 32

// KindBaseline is the kind label of a slot that serves its compiled-in
// implementation, in hotpatch_slot_info.
const KindBaseline = "baseline"

// DefaultBuckets are the buckets of hotpatch_apply_duration_seconds, from a
// script of a few lines (about a millisecond) to a process that is slow to
// start (tens of seconds).
var DefaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Collector is a [prometheus.Collector] for one manager. Register it with a
// Prometheus registry; Close it before or after the manager closes.
type Collector struct {
	m      *hotswap.Manager
	cancel func()        // ends the subscription
	done   chan struct{} // closed when the event goroutine has returned

	applies    *prometheus.CounterVec
	reverts    *prometheus.CounterVec
	rollbacks  *prometheus.CounterVec
	commits    *prometheus.CounterVec
	rejections *prometheus.CounterVec
	restarts   *prometheus.CounterVec
	events     *prometheus.CounterVec
	latency    *prometheus.HistogramVec

	generation *prometheus.Desc
	stack      *prometheus.Desc
	slotInfo   *prometheus.Desc
	slotFails  *prometheus.Desc
	memory     *prometheus.Desc
	memLimit   *prometheus.Desc
	interps    *prometheus.Desc
	onProb     *prometheus.Desc
	probCalls  *prometheus.Desc
	probFails  *prometheus.Desc

	mem memprobe.Prober // reads the loaders' memory without waiting for a busy one

	mu          sync.Mutex      // guards the fields below
	lastApplied uint64          // generation of the last applied event
	counted     uint64          // generation of the status New read the stack from: applies up to it are in scripts already
	types       map[string]bool // the event types given a label of their own
	kinds       map[string]bool // the kinds given a label of their own
	scripts     map[string]int  // script patch IDs applied and not yet retired: each holds an interpreter
	seen        int             // events handled, for tests
	tick        chan struct{}   // closed and replaced at each event handled, for tests
}

// New returns a collector of m's events and state. It subscribes to m's
// events at once and counts from then on. Close stops it.
//
// The metrics, all prefixed hotpatch_:
//
//	applies_total{kind}                     patches applied
//	reverts_total{kind,reason}              patches reverted; reason: request, replaced, close
//	rollbacks_total{kind,reason}            patches rolled back; reason as for rejections
//	commits_total{kind}                     patches whose probation ended clean
//	rejections_total{kind,reason}           patches (or files) refused; reason: unknown_slot,
//	                                        type_mismatch, baseline_changed, duplicate_id, vetoed,
//	                                        closed, timeout, panic, invalid, signature,
//	                                        expired, replay, error
//	restarts_total{kind}                    restarts of what serves a patch (a process)
//	events_total{type}                      every event, by type (open set, bounded)
//	apply_duration_seconds{kind}            load (or Apply) start to applied ([hotswap.Event].Took)
//	generation                              the manager's generation
//	stack_depth                             patches in the stack
//	slot_info{slot,patch_id,kind}           1 per slot: the version serving it ("" and baseline for none)
//	slot_failures{slot,patch_id}            failures counted against the patch serving the slot
//	loader_memory_bytes{kind}               memory a loader holds (native: plugins never unmapped)
//	loader_memory_limit_bytes{kind}         the cap on it
//	script_interpreters                     interpreters alive
//	probation_patches                       patches on probation now
//	probation_calls_total{patch_id,kind}    calls counted against a patch on probation
//	probation_failures_total{patch_id,kind} failures counted against a patch on probation
func New(m *hotswap.Manager) *Collector {
	c := &Collector{
		m:    m,
		done: make(chan struct{}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_applies_total",
			Help: "Patches applied."}, []string{"kind"}),
		reverts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_reverts_total",
			Help: "Patches reverted, by reason: request, replaced (by a new version), close."}, []string{"kind", "reason"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_rollbacks_total",
			Help: "Patches rolled back after failures, by the class of the last failure."}, []string{"kind", "reason"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_commits_total",
			Help: "Patches committed: their probation ended without a rollback."}, []string{"kind"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_rejections_total",
			Help: "Patches or patch files refused, by the class of the error."}, []string{"kind", "reason"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_restarts_total",
			Help: "Restarts of what serves a patch (a process that exited)."}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotpatch_events_total",
			Help: "Events recorded by the manager, by type."}, []string{"type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hotpatch_apply_duration_seconds",
			Help:    "Time from the start of a patch's load (or of its Apply) to its swap.",
			Buckets: DefaultBuckets}, []string{"kind"}),
		generation: prometheus.NewDesc("hotpatch_generation", "The manager's generation: it rises on every change of a slot.", nil, nil),
		stack:      prometheus.NewDesc("hotpatch_stack_depth", "Patches in the stack.", nil, nil),
		slotInfo: prometheus.NewDesc("hotpatch_slot_info", "The version serving each slot (always 1); patch_id is empty and kind baseline for the compiled-in code.",
			[]string{"slot", "patch_id", "kind"}, nil),
		slotFails: prometheus.NewDesc("hotpatch_slot_failures", "Failures counted against the patch serving the slot, since it was applied (across all its slots).",
			[]string{"slot", "patch_id"}, nil),
		memory:   prometheus.NewDesc("hotpatch_loader_memory_bytes", "Memory held by a loader's patches (native: plugins are never unmapped).", []string{"kind"}, nil),
		memLimit: prometheus.NewDesc("hotpatch_loader_memory_limit_bytes", "The cap on hotpatch_loader_memory_bytes; past it, patches are refused.", []string{"kind"}, nil),
		interps:  prometheus.NewDesc("hotpatch_script_interpreters", "Script interpreters alive: script patches applied and not yet retired.", nil, nil),
		onProb:   prometheus.NewDesc("hotpatch_probation_patches", "Patches on probation now: applied, their window running.", nil, nil),
		probCalls: prometheus.NewDesc("hotpatch_probation_calls_total", "Calls counted against a patch on probation, across its slots, since its apply.",
			[]string{"patch_id", "kind"}, nil),
		probFails: prometheus.NewDesc("hotpatch_probation_failures_total", "Failures counted against a patch on probation, across its slots, since its apply.",
			[]string{"patch_id", "kind"}, nil),

		types:   make(map[string]bool),
		kinds:   make(map[string]bool),
		scripts: make(map[string]int),
		tick:    make(chan struct{}),
	}
	c.zero()
	ch, cancel := m.Subscribe(subscribeBuffer)
	c.cancel = cancel
	// The script patches already applied hold interpreters too. The status
	// is read after the subscription, so that no apply falls between the
	// two; one that comes in between is in both, and its applied event,
	// of a generation the status has reached, is not counted again.
	st := m.Status()
	c.counted = st.Generation
	for _, p := range st.Stack {
		if p.Kind == hotswap.KindScript {
			c.scripts[p.ID]++
		}
	}
	go c.run(ch)
	return c
}

// zero creates the series that alerts read, at 0, for the framework's
// kinds: a series that first appears at 1 shows no increase() in
// Prometheus, so the first rollback of a process would go unseen.
func (c *Collector) zero() {
	for _, k := range []hotswap.Kind{hotswap.KindScript, hotswap.KindNative, hotswap.KindProcess, hotswap.KindManual} {
		kind := c.kindLabel(k)
		c.applies.WithLabelValues(kind)
		c.commits.WithLabelValues(kind)
		for _, r := range reasons {
			c.rollbacks.WithLabelValues(kind, r)
			c.rejections.WithLabelValues(kind, r)
		}
	}
	c.restarts.WithLabelValues(string(hotswap.KindProcess))
}

// Close ends the subscription and waits for the collector's goroutine. The
// collector still answers scrapes: the counters keep their values, the
// gauges read the manager. Close is safe to call more than once.
func (c *Collector) Close() {
	c.cancel()
	<-c.done
}

func (c *Collector) run(ch <-chan hotswap.Event) {
	defer close(c.done)
	for e := range ch {
		c.handle(e)
	}
}

// handle counts one event.
func (c *Collector) handle(e hotswap.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kind := c.kindLabel(e.Kind)
	c.events.WithLabelValues(c.typeLabel(e.Type)).Inc()
	switch e.Type {
	case hotswap.EventApplied:
		c.applies.WithLabelValues(kind).Inc()
		c.lastApplied = e.Generation
		if e.Kind == hotswap.KindScript && e.Generation > c.counted {
			c.scripts[e.PatchID]++
		}
		if e.Took > 0 {
			c.latency.WithLabelValues(kind).Observe(e.Took.Seconds())
		}
	case hotswap.EventCommitted:
		c.commits.WithLabelValues(kind).Inc()
	case hotswap.EventReverted:
		c.reverts.WithLabelValues(kind, revertReason(e, c.lastApplied)).Inc()
	case hotswap.EventRolledBack:
		c.rollbacks.WithLabelValues(kind, reason(e.Err)).Inc()
	case hotswap.EventRejected:
		c.rejections.WithLabelValues(kind, reason(e.Err)).Inc()
	case hotswap.EventRetired:
		// A refused load released with an error is retired without ever
		// being applied: only applied IDs are counted down.
		if n := c.scripts[e.PatchID]; n > 1 {
			c.scripts[e.PatchID] = n - 1
		} else if n == 1 {
			delete(c.scripts, e.PatchID)
		}
	case hotswap.EventRestarted:
		c.restarts.WithLabelValues(kind).Inc()
	}
	c.seen++
	close(c.tick)
	c.tick = make(chan struct{})
}

// typeLabel returns the label of an event type: the type itself for the
// first maxEventTypes distinct types, "other" after. The caller holds mu.
func (c *Collector) typeLabel(t hotswap.EventType) string {
	s := labelValue(string(t))
	if c.types[s] {
		return s
	}
	if len(c.types) >= maxEventTypes {
		return "other"
	}
	c.types[s] = true
	return s
}

// Describe sends the descriptions of every metric of the collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range c.vecs() {
		v.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{c.generation, c.stack, c.slotInfo, c.slotFails, c.memory, c.memLimit, c.interps,
		c.onProb, c.probCalls, c.probFails} {
		ch <- d
	}
}

func (c *Collector) vecs() []prometheus.Collector {
	return []prometheus.Collector{c.applies, c.reverts, c.rollbacks, c.commits, c.rejections, c.restarts, c.events, c.latency}
}

// Collect sends the counters, and the gauges as read from the manager's
// status and loaders now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.vecs() {
		v.Collect(ch)
	}
	st := c.m.Status()
	ch <- prometheus.MustNewConstMetric(c.generation, prometheus.GaugeValue, float64(st.Generation))
	ch <- prometheus.MustNewConstMetric(c.stack, prometheus.GaugeValue, float64(len(st.Stack)))
	for _, s := range st.Slots {
		c.collectSlot(ch, s)
	}
	c.collectProbation(ch, st.Stack)
	// Loaders of one kind (two native loaders) are summed: two series of
	// the same labels would fail the whole scrape.
	type mem struct{ used, limit int64 }
	var kinds []string
	mems := make(map[string]mem)
	interps, counted := -1, false
	for _, l := range c.m.Loaders() {
		kind := loaderKind(l.Kind())
		if used, limit, ok := c.mem.Memory(l); ok {
			m, seen := mems[kind]
			if !seen {
				kinds = append(kinds, kind)
			}
			mems[kind] = mem{m.used + used, m.limit + limit}
		}
		if il, ok := l.(interpreterLoader); ok {
			interps, counted = max(interps, 0)+il.Interpreters(), true
		}
	}
	for _, kind := range kinds {
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(mems[kind].used), kind)
		ch <- prometheus.MustNewConstMetric(c.memLimit, prometheus.GaugeValue, float64(mems[kind].limit), kind)
	}
	if !counted {
		c.mu.Lock()
		interps = 0
		for _, n := range c.scripts {
			interps += n
		}
		c.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(c.interps, prometheus.GaugeValue, float64(interps))
}

// collectSlot sends the series of one slot.
func (c *Collector) collectSlot(ch chan<- prometheus.Metric, s hotswap.SlotStatus) {
	kind := labelValue(string(s.Kind))
	if s.PatchID == "" {
		kind = KindBaseline
	}
	slot, id := labelValue(s.Name), labelValue(s.PatchID)
	ch <- prometheus.MustNewConstMetric(c.slotInfo, prometheus.GaugeValue, 1, slot, id, kind)
	if s.PatchID != "" {
		ch <- prometheus.MustNewConstMetric(c.slotFails, prometheus.GaugeValue, float64(s.Failures), slot, id)
	}
}

// collectProbation sends the count of patches on probation, and the calls
// and failures of each, as counters: they only rise while the window runs,
// and a patch applied again starts from zero, which Prometheus takes as a
// counter reset. Only patches whose window runs have series, so the series
// come and go with probations and their number is bounded by the stack; a
// committed patch's failures stay in hotpatch_slot_failures.
// Calls and failures are counted per patch, across its slots, by the
// manager: a per-slot split does not exist to export.
func (c *Collector) collectProbation(ch chan<- prometheus.Metric, stack []hotswap.PatchInfo) {
	type key struct{ id, kind string }
	type counts struct{ calls, failures int64 }
	var keys []key
	on := make(map[key]counts)
	patches := 0
	for _, p := range stack {
		if p.Probation == nil || p.Probation.State != hotswap.ProbationActive {
			continue
		}
		patches++
		k := key{labelValue(p.ID), loaderKind(p.Kind)}
		n, seen := on[k]
		if !seen {
			keys = append(keys, k)
		}
		on[k] = counts{n.calls + p.Probation.Calls, n.failures + p.Probation.Failures}
	}
	ch <- prometheus.MustNewConstMetric(c.onProb, prometheus.GaugeValue, float64(patches))
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(c.probCalls, prometheus.CounterValue, float64(on[k].calls), k.id, k.kind)
		ch <- prometheus.MustNewConstMetric(c.probFails, prometheus.CounterValue, float64(on[k].failures), k.id, k.kind)
	}
}

// interpreterLoader is a loader that counts its live interpreters. None
// does yet; until then the collector counts script patches applied and not
// retired, one interpreter each.
type interpreterLoader interface {
	Interpreters() int
}
