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
// One without serves [Collector.Handler], which adds the Go runtime's and
// the process's metrics, and imports no Prometheus package itself:
//
//	mux.Handle("GET /metrics", metrics.New(rt.Manager()).Handler())
//
// # Where the numbers come from
//
// A [Collector] is fed two ways. Counters (applies, reverts, rollbacks,
// rejections, restarts, every event by type) count the manager's events,
// read from a [hotswap.Manager.Subscribe] channel by one goroutine that
// [Collector.Close] stops. They count from [New] on: create the collector
// right after the manager. A subscriber that falls more than its buffer
// behind misses events (the manager never waits for it); the buffer is
// large for that reason, and the collector does little per event. The
// series alerts read (applies, rollbacks and rejections by reason for the
// framework's kinds, restarts of processes) exist at 0 from New on, so
// that Prometheus's increase() sees their first event.
//
// Gauges (the generation, the version serving each slot, the failures
// counted against it, the loaders' memory) are read from
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
// to 128 bytes. Patch IDs appear only on
// hotpatch_slot_info, one series per slot (the version serving it now),
// so a long life of patches does not grow the series count.
//
// # Apply latency
//
// Events carry no duration. hotpatch_apply_duration_seconds observes, for
// patches loaded by a loader wrapped with [Collector.TimeLoads], the time
// from the start of the load to the applied event: parsing and evaluating
// a script, opening a plugin, starting a process, then the swap. Patches
// applied in code, and those of loaders that are not wrapped, are not
// observed.
package metrics
