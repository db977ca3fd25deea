// Package journal keeps the patches of a server across restarts: which
// patches each baseline applied, so that a restart of the same binary
// applies them again before it reports ready, and a new baseline
// supersedes them.
//
//	j, err := journal.Open(ctx, mgr, "/var/lib/shop/hotpatch", journal.Options{})
//	...
//	defer j.Close() // before mgr.Close
//	w, err := patchdir.Watch(ctx, mgr, "patches", patchdir.Options{Known: j.Known})
//
// The root package hotpatch does this when Options.StateDir is set (by
// default, next to the patch directory).
//
// # The journal
//
// The state directory holds a file named journal: for each baseline (at
// most 8, the most recently run first), the patch stack it applied (ID,
// kind, source, SHA-256 of the patch file, order), and the contents that
// older baselines applied and it superseded. The file ends with a line
// holding the SHA-256 of the rest; it is replaced as a whole (a temporary
// file, synced, renamed over it, the directory synced), so a crash leaves
// the old journal or the new one, and a temporary file left behind is
// never read and is removed at the next [Open]. A copy of each patch file
// is kept under blobs/<sha256>/<file name>, since the patch directory may
// have changed by the next start; copies no record refers to are removed.
// A journal is never written that the next start could not read (too
// many patches, too large): the write fails, and the file keeps its last
// state; a patch whose ID or kind cannot be written (not printable) is
// left out of the record and reported.
//
// The journal is fed by the manager's events ([hotswap.Manager.Subscribe]):
// applied, reverted and rolled-back, whatever caused them, so a patch from
// the directory, from [hotswap.Manager.Apply] or from an admin API is
// recorded alike. A subscriber that falls behind misses events: the
// journal sees the gap in the generations and rebuilds its record from
// [hotswap.Manager.Status]. A patch of a file of [Options] PatchDir that
// is rolled back, or reverted by hand (an admin API) while its file stays,
// leaves the record, and the file (same name and content) stays unapplied
// at the next start of the same baseline, until it changes. The reverts of the manager's Close (which
// carry a Note and no error) are not recorded, so a graceful stop keeps
// the stack for the next start. The file is written on the journal's own
// goroutine, after the change; [Journal.Sync] waits for it. A source of
// patches that removes a patch's file after applying it (an admin API
// that unpacks an upload into a temporary file) calls Sync before the
// removal, or the journal finds no file to copy. A copy the state
// directory could not take (a full disk) is tried again at every write,
// and Sync fails until it is kept.
//
// # Two processes, one state directory
//
// The journal is read and written under a lock (an flock of the file
// lock), and names its owner: the journal opened last. A process that
// finds another owner, whose journal is still open (its file
// owner.<token> is locked), stops writing: it reports it once
// ([EventError]), and its Sync fails with [ErrTakenOver]. So a baseline
// step's new process takes the journal over, and the old one, still
// serving for a moment, cannot undo its record; a second server started
// on the same directory by mistake takes it over too. When the owner
// ends (a step whose new process exits or is stopped), the old one takes
// the journal back at its next change; the failed process's baseline
// record, if another baseline's, is put back as the old one read it at
// Open (none, if there was none), so that the next step to that
// baseline supersedes or carries forward every patch of the old one,
// those applied after the failed step too. On platforms without flock (not
// unix-like), the last process to write wins.
//
// # The contract with the baseline step
//
// [Open] returns once the patches of a restart are applied again; if its
// context ends first, it returns the context's error and leaves the
// record as it was, so the next start applies them all. The
// process that takes over in a baseline step calls it (the root package's
// Runtime.Start does) before it reports ready, and watches the patch
// directory only after it, with [Journal.Known]; it closes the journal
// before its manager.
//
// # Baseline identity
//
// A baseline is identified by [Identity], computed once at Open: for a
// binary built by `hotpatch build` (it carries a source record), the hash
// of its fingerprint and of its source record, so a rebuild from edited
// source is a new baseline; for any other Linux binary, the Go build ID
// the linker wrote into it (a hash of the linked file: two different
// builds differ); for the rest, the SHA-256 of the executable. On the
// 47 MB example server, on this project's 2-core test machine under load,
// the build ID costs about 0.2 ms and the SHA-256 about 140 ms
// (BenchmarkGoBuildID, BenchmarkIdentity). [Options] Identity overrides
// it.
//
// # Restarting the same baseline
//
// Every patch of the record is applied again, in stack order, from its
// kept copy, through the loader attached to the manager that matches its
// file name, before Open returns. The patch keeps its ID and source, and
// [Journal.Known] tells the patch directory that the file with that name
// and content is applied already (an edit of it replaces the patch, its
// removal reverts it, and putting it back applies it again). A kept copy
// is checked against its SHA-256 before it is applied; one changed behind
// the journal's back is replaced when its patch is applied again. With [Options] PatchDir (the root package sets
// it), the directory says what its files are: a patch from a file of it
// that was removed while the server was down is not applied again, and
// one whose file changed is left to the watch, which applies the new
// content. A patch handed over in code has no copy: it is reported (a
// rejection that says so) for the application to apply again. A patch
// with a copy that cannot be applied again is reported and left out of
// the record, or, with [Options] RequireReplay (set by the root package
// in a process a baseline step started), fails Open with [ErrReplay] and
// leaves the record as it was, so that the step fails rather than drop
// the patch. A patch carried forward to a new baseline (below) that the
// new baseline refuses is reported and left out, RequireReplay or not:
// the new baseline changed the code it was written for.
//
// # A new baseline
//
// A new baseline contains the fixes before it. The patches of the
// baseline that ran last are not applied again: each is reported once as
// superseded ([hotswap.EventSuperseded], not a rejection), and a file of
// the patch directory whose exact content was superseded stays unapplied
// until it changes (a new or edited file applies as usual); the record
// remembers up to 4096 such contents, passed on from baseline to
// baseline. With [Options] CarryForward, script and process patches are
// applied again instead; native patches, built for one fingerprint, and
// patches handed over in code are always superseded. Going back to an
// older baseline that still has a record is a restart of that baseline:
// its own stack is applied again.
//
// # Failures
//
// A journal that cannot be read, or whose checksum or content is wrong,
// is renamed journal.corrupt-<UTC time>, reported ([EventCorrupt] and an
// error record of the manager's logger) and the server starts on its
// baseline; a journal of a future format version is moved aside alike
// (the reason names the version). A state directory that is missing with
// its parent, is not a directory, may be written by group or others, is
// owned by a user other than the process's (or root), or cannot be
// written is an error of Open, and nothing is applied. A missing one
// whose parent exists is created, mode 0700. A relative one is made
// absolute at Open, so a later chdir does not move it. A write that fails later is reported
// ([EventError]) and tried again at the next change.
//
// # Limits
//
// A patch applied just before a crash (kill -9) may miss the journal: it
// is recorded once its event is handled, a moment after Apply returns
// (call [Journal.Sync] to wait). A patch directory file re-applies
// anyway; only a patch from elsewhere is lost. A patch whose file changed
// before the journal copied it is recorded without a copy and reported.
// If the journal falls more than 1024 events behind at the moment the
// manager closes, its rebuild may see the emptied stack. A patch's Source is recorded as its loader gave it: a relative one
// read after a chdir is not found. The parents of the state directory
// are not checked. A kept copy is read again by its loader after its
// SHA-256 was checked: the state directory's owner, and nobody else,
// could change it in between.
//
// # Platforms
//
// Everywhere. The mode and owner checks of the state directory, the sync
// of the directory after a rename and the locks are made on unix-like
// systems only.
package journal
