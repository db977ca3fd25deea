// Package process runs patch code in its own process: a crash or a leak in
// the patch cannot take the server down, and a new version replaces the old
// one while calls keep flowing.
//
// A process patch is an executable (by convention *.proc) that serves one
// or more slots. `hotpatch patch build --kind process -o greet.proc greet.go`
// makes one from a patch source with //hotpatch:slot directives; by hand, a
// main calls procplugin.Serve:
//
//	func main() {
//		procplugin.Serve(map[string]any{"example.Greet": Greet})
//	}
//
// The plugin side lives in its own package,
// [github.com/hotpatch-go/hotpatch/loader/process/procplugin], which
// imports nothing of the host: a process patch links neither this
// package nor the manager, the registry or the directory watch.
//
// The host side is a [Loader] (a [hotswap.Loader]) that turns such a file
// into a [hotswap.Patch] whose implementations call into the process:
//
//	mgr.Attach(process.New(process.Options{Logger: log})) // mgr.Close closes it
//	w, err := patchdir.Watch(ctx, mgr, "patches", patchdir.Options{})
//
// The loader holds no registry and no manager: each Load receives the
// [hotswap.Host] the patch is for, checks the slots against it, and the
// patch reports its failures and rolls itself back through it.
//
// # Lifecycle
//
// Load copies the executable (restarts run the same bytes even if the file
// is replaced), starts it through hashicorp/go-plugin (magic cookie and
// protocol version of its own), waits for the handshake (Options.StartTimeout),
// checks its health, asks it for the slots it serves with their types, and
// refuses the file if any slot is unknown or has another type than the
// host's. A refused file leaves nothing running, and the error
// ([*StartError]) carries the last lines of the process's standard error.
//
// The manager's Apply swaps the adapters in. When a patch leaves the stack
// (replaced, reverted, rolled back), its Retire hook stops new calls from
// reaching the old process, waits until the calls in flight are done (at
// most Options.Grace, 30 s by default), then stops it. A caller that loaded
// the slot before the swap and calls after the retire is served by the
// slot's current implementation.
//
// # Call channel
//
// go-plugin launches and stops the process, carries its logs and standard
// streams, and answers health checks, but calls do not go over its gRPC:
// a gRPC round trip costs several times a unix socket's. Calls take a
// channel of their own, a unix socket the plugin listens on, with binary
// frames, many calls in flight at once, codecs compiled once per slot
// type, and no goroutine switch on a lone call's path. Its protocol is
// described once, in the documentation of the internal package
// loader/process/internal/callchan, which both sides share.
//
// # Shapes
//
// A slot can be served by a process when its func type has:
//   - parameters and results that encode: booleans, numbers, strings,
//     slices, arrays, maps, structs of exported fields, pointers to these,
//     and types that implement encoding.BinaryMarshaler (time.Time);
//   - optionally a context.Context as its first parameter: its deadline and
//     cancellation reach the plugin;
//   - optionally an error as its last result: the plugin's error comes back
//     with its message (and errors.Is(err, context.DeadlineExceeded) and
//     context.Canceled still hold).
//
// HTTP handlers — func(http.ResponseWriter, *http.Request) and
// http.HandlerFunc — are bridged: the request and the response stream both
// ways (flushes and server-sent events included; hijacking is not bridged),
// as docs/process.md describes. Channels, funcs, unsafe pointers and
// interfaces are refused at load with the path of the offending part.
//
// A call that fails for another reason than the function's own error — the
// process died or is restarting, the function panicked, the caller's
// context ended — fails with a [*CallError]: returned as the error result
// if the func has one, raised as a panic otherwise (net/http recovers it per
// request); an HTTP handler answers 502 Bad Gateway (504 on a deadline).
// Panics and protocol errors are reported to the host once each
// ([hotswap.Host.ReportFailure]); a middleware above the slot that
// recovers the panic does not count it again ([hotswap.Manager.Recovered]).
//
// # Supervision
//
// If a process dies, the calls in flight fail at once and the loader
// restarts it with backoff ([RestartPolicy]). A panic in a call is answered
// to that caller and the process is replaced (the old one drains). After
// more than MaxRestarts restarts within the window, the loader gives up
// and rolls the patch back through its host, with a rolled-back
// event that says why. The plugin's standard error, logs (slog's default
// logger in the plugin, go-plugin's logger) and standard output reach the
// host's slog logger with the patch ID.
//
// Plugin logs are rate-limited per process ([LogLimit]); what is dropped
// is counted and reported. A stop the host asked for is not logged as a
// failure.
//
// No process outlives its loader: [Loader.Close] stops every one. On Linux
// a plugin also gets a parent-death signal, so it dies with a host that is
// killed; everywhere, it exits when it sees its parent change. Whenever a
// plugin ends, the host kills its process group, and it never waits for
// pipes that a descendant which left the group still holds. The plugin's
// procplugin.Serve kills its descendants when the host stops it or goes
// away (on Linux as a child subreaper, so that daemonized descendants are
// found too).
//
// # Bring your own go-plugin plugin
//
// An application that already has go-plugin plugins (its own plugin.Plugin
// implementations, gRPC or net/rpc) gets the same supervised swap from
// [NewCustom]: give it the plugin set and a function that dispenses, from
// go-plugin's client and by the negotiated protocol, the plugins that
// serve the slots. See docs/process.md.
//
// # Platforms
//
// Linux carries everything. Other Unix systems lack the parent-death
// signal (the plugin polls its parent instead). Windows has no unix
// sockets for go-plugin before Windows 10 and is untested.
package process
