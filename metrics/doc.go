// Package metrics exports the state of a [hotswap.Manager] to Prometheus:
// what was applied, reverted, rolled back and refused, what serves each
// slot now, what the loaders hold. It is the only package of the module
// that imports the Prometheus client; an application that does not want it
// does not link it.
//
// # Use
//
// An application with a Prometheus registry of its own registers the
// collector in it:
//
//	c := metrics.New(rt.Manager())
//	defer c.Close()
//	reg.MustRegister(c)
//
// A collector is registered once per registry (a second Register returns
// prometheus.AlreadyRegisteredError). Its metrics carry no label that
// names the manager, so the collectors of two managers share a registry
// only when each is registered with a label of its own:
//
//	prometheus.WrapRegistererWith(prometheus.Labels{"manager": "billing"}, reg).MustRegister(c)
//
// Close does not unregister the collector: it keeps answering scrapes
// (counters at their last values, gauges read from the manager) until
// reg.Unregister(c).
//
// One without serves [Collector.Handler], which adds the Go runtime's and
// the process's metrics, and imports no Prometheus package itself:
//
//	mux.Handle("GET /metrics", metrics.New(rt.Manager()).Handler())
//
// # Where the numbers come from
//
// A [Collector] is fed two ways. Counters (applies, reverts, rollbacks,
// commits, rejections, restarts, every event by type) and the apply
// latency histogram count the manager's events,
// read from a [hotswap.Manager.Subscribe] channel by one goroutine that
// [Collector.Close] stops. They count from [New] on: create the collector
// right after the manager. A subscriber that falls more than its buffer
// behind misses events (the manager never waits for it); the buffer is
// large for that reason, and the collector does little per event. The
// series alerts read (applies, rollbacks, commits and rejections by reason
// for the framework's kinds, restarts of processes) exist at 0 from New
// on, so that Prometheus's increase() sees their first event. A patch
// applied while New starts is counted once: New subscribes first, then
// reads the status, and leaves out of its interpreter count the applied
// events of generations the status has reached.
//
// Gauges (the generation, the version serving each slot, the failures
// counted against it, the patches on probation with their calls and
// failures, the loaders' memory) are read from
// [hotswap.Manager.Status] and the attached loaders at each scrape, so they
// are exact whatever the events did. A loader busy past 250 ms (the native
// loader holds its lock while a plugin's init runs) is left out of that
// scrape rather than waited for.
//
// # Labels
//
// Every label has a bounded set of values: kind is a patch kind (the
// framework's four, or a loader's own; past 16 distinct kinds, the rest
// count as [KindOther]), reason one of the fixed values listed with [New],
// slot a registered slot. Values from outside are made valid UTF-8 and cut
// to 128 bytes; a cut value ends with a hash of the whole, so two long
// slot names (or IDs, or kinds) that begin alike keep series of their own. Patch IDs appear only on the per-slot gauges
// (hotpatch_slot_info, hotpatch_slot_failures: one series per slot, the
// version serving it now) and on the probation counters, which have
// series only for the patches whose probation runs now; so a long life of
// patches does not grow the series count.
//
// # Probation
//
// With a [hotswap.RollbackPolicy], hotpatch_probation_patches is the
// number of patches on probation, and hotpatch_probation_calls_total and
// hotpatch_probation_failures_total their counts, per patch (the manager
// counts per patch, across its slots), as [hotswap.Manager.Status] reports
// them at the scrape. A patch's series appear at its apply, at 0, and go
// when its window ends: committed (counted in hotpatch_commits_total),
// rolled back (hotpatch_rollbacks_total), or reverted. After a commit,
// its failures go on counting in hotpatch_slot_failures.
//
// # Apply latency
//
// hotpatch_apply_duration_seconds observes the Took of every applied
// event ([hotswap.Event].Took): for a patch that came through
// [hotswap.Manager.Load] (every loader of the root package and of the
// patch directory), from the start of the load to the swap (parsing and
// evaluating a script, opening a plugin, starting a process, then the
// swap); for a patch applied in code, from the call of
// [hotswap.Manager.Apply] to the swap, which includes the wait for a
// change in progress and the patch's Validate hook.
package metrics
