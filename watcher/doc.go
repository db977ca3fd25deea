// Package watcher watches one patch directory and reports, per file,
// "apply this content" and "this file is gone" once the file has stopped
// changing.
//
// # Model
//
// A [Watcher] keeps two views of the directory: what is on disk, as of
// the last time each file settled, and what it has told its reader. An
// [Event] moves the reader's view of one file to the disk's: [Apply] when
// the file is new or its content differs from what the reader has,
// [Remove] when the reader has a file that is no longer there. Content is
// compared by SHA-256, which each Apply carries in [Event.Sum]; touching
// a file, changing its mode or saving identical bytes reports nothing.
//
// The first scan reports every file already present as Apply, so a
// server that restarts re-applies what the directory holds, and then
// [Synced]. Files found by one scan are reported in the order of their
// names.
//
// Events are not dropped when the reader is slow. The watcher queues
// file names, not events, and computes the event when it can deliver it,
// so many changes to one file reach a slow reader as one event with the
// latest content, and a file that came and went in between produces
// none. Across files, events come in the order the changes settled,
// except that a file over 1 MiB is hashed on a goroutine of its own (two
// at most) and reported when its hash is done, so that it delays no
// other file.
//
// # Debounce
//
// fsnotify reports that a file is being written, not that the writing is
// done. Each change therefore starts (or restarts) a quiet period of
// [Options.Debounce] ([DefaultDebounce], 100 ms, when zero) for that file;
// only once it has passed is the file opened, hashed and compared. A file
// rewritten in place many times, or written in several chunks, is read
// once, after the last write. Quiet periods are kept per file, so a file
// that never stops changing delays only itself.
//
// The safe way to publish a file is still to write it under a temporary
// name in the same directory and rename it over the real name: the rename
// is atomic, so no half-written content can be seen, whatever the
// timing. Many editors save this way; those that write in place are
// covered by the debounce.
//
// # What is reported
//
// Only entries directly in the directory, never in subdirectories. An
// entry is reported when it resolves, following symlinks, to a regular
// file, its name is not ignored and [Options.Match] (if set) accepts it.
// Directories, FIFOs, sockets and devices are skipped without being read,
// and never block the watcher: files are opened without blocking, and an
// entry swapped for a FIFO between the stat and the open is found out by
// the open file's own stat. An entry that cannot be read counts as gone,
// and the reason goes to [Watcher.Errors].
//
// # Huge files
//
// A file's size is checked before it is read: one over [Options.MaxSize]
// ([DefaultMaxSize], 256 MiB, when zero) is never hashed, and is reported
// as [Skip] with a [SizeError]; for the reader it is gone. A file that
// grows past the limit while it is read is skipped too. Files up to 1 MiB
// are hashed in order on the watcher's goroutine; larger ones by up to two
// goroutines of their own, so a big file under the limit delays no other
// file, only itself and [Synced]/[Resumed], which wait for every hash of
// their scan.
//
// # Links and changes the directory does not see
//
// fsnotify reports changes made through the directory's own entries.
// Some changes to what an entry resolves to are made elsewhere: a write to
// a file that is hard-linked into the directory, through its other name
// (outside the directory, or another name inside it); a write to the
// target of a symlink that points outside the directory. The watcher
// therefore rechecks: every [Options.Recheck] ([DefaultRecheck], 2 s, when
// zero) it stats every file it has read (one stat per file, no read) and
// reads again each one whose size, modification time, change time, inode
// or link count changed (on Windows, size and modification time only).
// So what the reader has matches what the
// directory's entries resolve to, within one recheck period, for hard
// links and symlinks alike. Two names of one inode are two files, each
// reported under its own name. A write that keeps the size and all
// timestamps (which needs a deliberate reset of the times) is not seen
// until the file changes again. With Recheck negative, only changes the
// directory sees are reported.
//
// These names are always ignored, as editor and tool artefacts:
//
//   - hidden names, starting with "." (".greet.go.swp", ".#greet.go",
//     ".greet.go.tmp", and the Kubernetes "..data" internals);
//   - names ending in "~", ".swp", ".swo", ".swn", ".swx", ".tmp",
//     "___jb_tmp___" or "___jb_old___" (backups, vim swap files, temporary
//     files of write-then-rename, JetBrains safe write);
//   - Emacs auto-save files "#greet.go#";
//   - "4913", the file vim creates to probe whether it may write.
//
// # Kubernetes ConfigMap and Secret volumes
//
// The kubelet publishes a volume as symlinks: "greet.go -> ..data/greet.go",
// where "..data" is itself a symlink to a timestamped directory such as
// "..2026_11_27_10_00_00.123456789" that holds the real files. An update
// writes a complete new timestamped directory, then swaps "..data" to it
// with one atomic rename, adds links for new files, removes links of gone
// ones and deletes the old directory.
//
// The watcher follows the links, so it reads either the old or the new
// version of a file, never one being written. Any change to an entry that
// is not itself a reported file, "..data" included, schedules a rescan of
// every file once the directory has been quiet for the debounce period;
// files whose content did not change are not reported.
//
// A symlink that points outside the directory is read when the link
// itself changes, when the directory is rescanned, and when the recheck
// finds its target changed.
//
// # Lifecycle
//
// [New] starts one goroutine, which owns an fsnotify watcher. Read
// [Watcher.Events] until it is closed; reading [Watcher.Errors] is
// optional, as it keeps only the newest few errors rather than block.
// Errors are not fatal: the watcher keeps running after an unreadable file,
// a failed directory read or an fsnotify queue overflow (after which it
// rescans everything).
//
// If the watched directory is removed or renamed, the watcher sends
// [ErrDirRemoved] on Errors and reports every file its reader has as
// Remove: nothing under that name can be observed any more. It then looks
// for a directory under the same name every recheck period (DefaultRecheck
// when Recheck is negative). When one exists again, created anew or
// renamed back, the watcher watches it, reports its files as Apply (only
// those whose content differs from what the reader has) and then
// [Resumed]. Changes made while the directory was away are not seen as
// such; only what the new directory holds counts.
//
// Events and Errors stay open until [Watcher.Close] (or fsnotify itself
// fails). Close stops the goroutine and waits for it, drops events not
// yet delivered and closes Events and Errors. It never blocks on an
// unread channel, and may be called more than once.
//
// # Platforms
//
// Events come from [github.com/fsnotify/fsnotify]: inotify on Linux,
// kqueue on the BSDs and macOS, ReadDirectoryChangesW on Windows. The
// model is the same everywhere, because the watcher uses events only as
// hints to look again and decides by reading the files. Notes:
//
//   - Linux: a large burst of changes can overflow the inotify queue
//     (fs.inotify.max_queued_events); the watcher then rescans.
//   - kqueue keeps a file descriptor open per file in the directory.
//   - Windows: the watcher holds a file open while hashing it, which can
//     briefly make a rename over that file fail; tools that write patches
//     should retry the rename.
//   - Platforms without an fsnotify backend compile, but New returns
//     fsnotify's error.
//
// If the directory is itself a symlink, the directory it points to is
// watched. The recheck (every Recheck period; not when Recheck is
// negative) looks at the name too: if the symlink is gone, the directory
// counts as removed, as above; if it now leads to another directory (a
// deployment's "current" link switched), the watcher watches that one and
// reads every name again: files that differ are reported as Apply, files
// only the old directory held as Remove, with no Remove in between for a
// file both hold, then [Resumed].
package watcher
