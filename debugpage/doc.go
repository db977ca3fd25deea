// Package debugpage serves a page that shows what a [hotswap.Manager] runs,
// in the convention of net/http/pprof: mount it on the application's own
// mux, under /debug/hotpatch/, where only operators reach it.
//
//	mux.Handle("/debug/hotpatch/", debugpage.Handler(rt.Manager()))
//
// # What it shows
//
// The page, rendered on the server with html/template (no JavaScript), has
// the manager's generation; every slot with the version serving it (patch
// ID and kind, or the baseline), since when, and the failures counted
// against it; the patch stack, bottom first, with each patch's source and
// the slots it serves; the probation state; what the loaders hold (the
// native loader's memory against its cap, or "busy" when it does not
// answer within 250 ms, as while a plugin's init runs under its lock);
// and the most recent events,
// newest first, with how long each apply took ([hotswap.Event].Took). Event types are open: a type the page does not know is
// shown as it is, with its patch, note and error.
//
// The same data is served as JSON at status.json under the mount point
// (/debug/hotpatch/status.json), or with ?format=json on any path under it;
// the page links to the latter, which works wherever the page is mounted
// (a pattern without its slash, [http.StripPrefix], a sub-mux).
//
// # Safety
//
// Patch IDs, sources and error texts come from outside (file names, bundle
// manifests, what a patch's code panicked with): the template escapes each
// in its context, and the page is sent with a Content-Security-Policy that
// runs no script at all. The page writes control and invisible format
// characters in them (a bidi override that reverses what follows, a
// zero-width space, a terminal escape) as visible Go escapes such as
// \u202e, so that what an operator reads is the string that runs, and cuts
// each value at 1000 characters; the JSON keeps them as they are. It shows sources and error texts, which may say
// more than a public page should: mount it behind the same access control
// as net/http/pprof. It answers GET and HEAD only.
//
// # Probation
//
// With a [hotswap.RollbackPolicy], the probation section lists each patch
// in the stack that has a probation ([hotswap.PatchInfo].Probation): its
// state (on-probation, or committed once its window ended clean), when it
// was applied, when its window ends and the time left at the page's
// time, the calls and failures counted against it (per patch, across its
// slots) and the thresholds that roll it back. The probation column of the
// slots table says the same on one line for the patch serving each slot.
// A committed or rolled-back event shows its evidence ([hotswap.Event]
// .Probation: the counts, the window, the thresholds) under its note or
// error; the JSON has it under the event's probation. A manager without
// a rollback policy puts no patch on probation: the section says so.
package debugpage
