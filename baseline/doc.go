// Package baseline takes the baseline step: a graceful restart into a new
// binary that hands the listeners over, so that a change that cannot be
// hot-patched reaches a live server without a failed request. It is built
// on [github.com/cloudflare/tableflip].
//
// # The step
//
// A process obtains its listeners from an [Upgrader] ([Upgrader.Listen]; TCP
// and unix sockets, as many as it needs). A restart — SIGHUP, a call to
// [Upgrader.Restart], or an admin API that calls it — starts the binary
// ([Options.Binary]) with the same arguments and environment and passes it
// the listeners. The new process inherits each listener it asks for under
// the same network and address strings, does its start-up work, and calls
// [Upgrader.Ready], which runs its readiness check ([Options.Check]) and
// then tells the old process. Only then does the old process see
// [Upgrader.Exit] close; it calls [Upgrader.Shutdown], which closes its
// listeners' sockets (they stay open in the new process, so the kernel
// keeps queueing connections for it; the accept loops wait for the
// server's own graceful stop, so Serve ends as after it) and runs the
// drain hooks ([HTTPServer] for an *http.Server, [Graceful] for a gRPC
// server) within
// [Options.DrainTimeout], and the process exits.
//
// Serve on the inherited listeners only after Ready returns: a process
// that fails its check, or is killed for being late, then has accepted
// nothing from the queue it shares with the old process. That is also why
// a check should reach the new process itself ([CheckHandler] serves a
// request through its handler in process) rather than the shared address,
// where the old process may answer.
//
// If the new binary cannot be started (missing, not executable), exits,
// fails its check, or is not ready within [Options.ReadyTimeout] (it is
// then killed), the old process keeps serving and Restart returns a
// [*RestartError] with the tail of the new process's standard error. The
// error is also recorded as an [EventFailed] event through
// [Options.Events] (a hotswap.Manager records it in its history); a
// success is recorded as [EventStep] by the old process and
// [EventTookOver] by the new one. A trigger while a restart runs, or
// while the process this one replaced still drains, is refused with
// [ErrRestartInProgress], not queued.
//
// # The contract for start-up work
//
// Work that must be done before a process serves — re-applying the patches
// of the journal — goes between [New] and [Upgrader.Ready]:
//
//	up, err := baseline.New(opts)            // inherits the listeners
//	ln, err := up.Listen("tcp", addr)        // same strings as the old process
//	// start-up: apply patches; up.HasParent() reports a restart
//	err = up.Ready(ctx)                      // check, then the old process drains
//	go srv.Serve(ln)
//	<-up.Exit()                              // a newer process took over
//	err = up.Shutdown(ctx)                   // stop accepting, drain
//
// [Upgrader.HasParent] is true in a process started by a restart: it
// follows an old process that served until it became ready.
// [github.com/hotpatch-go/hotpatch/fingerprint.BaselineID] names a
// baseline by its fingerprint and source record. The root package's
// Options.Baseline makes this step part of the one-import embedding, with
// the manager as the event recorder.
//
// # Which binary
//
// By default the path the process was started from, read at [New]: when
// os.Args[0] names a symbolic link, that link, followed anew at each
// restart (so "hotpatch build -versioned", which switches the link
// atomically, selects the next baseline); otherwise the executable the
// kernel started (os.Executable). The path is opened at each restart, so
// a binary renamed over it is picked up too, and the running binary is
// never written to.
//
// # Standard error
//
// The new process writes its start-up to a pipe the old process reads:
// each line goes on to the real standard error and the last
// [Options.StderrTail] bytes are kept for the error. When the new process
// is ready it takes the real standard error back (the old process passes
// it along with the listeners), since the pipe goes away with the old
// process. A new binary must therefore use this package: one that does
// not would keep writing to a pipe without a reader once the old process
// exits. The same holds for a subprocess the new process starts before
// Ready with the standard error inherited as is (exec.Cmd with Stderr set
// to os.Stderr): give it a pipe of its own, as go-plugin does, or start it
// after Ready.
//
// # Limits
//
//   - One Upgrader per process: tableflip keeps process-wide state, and a
//     second [New] fails with [ErrSecondUpgrader]. tableflip starts os.Args[0] with os.Stderr as its
//     standard error; Restart points both at the chosen binary and the
//     relay while it runs, and puts them back.
//   - If ctx ends before Restart is done, Restart returns and the attempt
//     goes on, bounded by ReadyTimeout; its outcome is logged and recorded.
//   - [HTTPServer]'s drain answers every request with "Connection: close"
//     and closes a connection that stays idle for 1 s; a client that sends
//     on it at that very instant sees the connection close and must retry
//     (Go's client does so for idempotent requests).
//   - Ready is the point of no return: a new process that crashes after
//     it leaves nothing serving. The readiness check is the guard.
//   - Under go run, the go command removes the binary once the first
//     process exits: a second restart finds no binary. Build the server.
//   - A process started by a restart cannot restart until the one it
//     replaced has exited (its drain bounds that); a trigger waits up to
//     0.5 s for the news of that exit before it is refused.
//   - The listeners [Upgrader.Listen] returns are wrappers, not
//     *net.TCPListener: they tell Shutdown when the accept loop has
//     registered every connection it accepted, so the drain misses none.
//     Shutdown waits up to 1 s for an accept loop to come back to Accept
//     after its last connection; one that does not (a wrapper such as
//     netutil.LimitListener waiting for a free slot, or a server that
//     serves one connection at a time) is taken to have registered it,
//     and the hooks run.
//
// # Platforms
//
// Linux and macOS. Elsewhere [New] returns [ErrNotSupported] and the
// package compiles with the same API.
package baseline
