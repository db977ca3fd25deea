// Package admin serves the admin API of a running server: status, push a
// bundle, revert a patch, history, the baseline step, and an event
// stream, as JSON over HTTP. The root package hotpatch starts one with
// Options.Admin; the command `hotpatch status|push|revert|history|events|restart`
// is its client, and package [github.com/hotpatch-go/hotpatch/admin/api]
// holds the wire types.
//
// # Who may call
//
// By default the API listens on a unix socket only (Options.Socket,
// created mode 0600). Each connection's peer is read from the kernel
// (SO_PEERCRED on Linux, LOCAL_PEERCRED and LOCAL_PEERPID on macOS): the
// process's own user and root are served, and Options.AllowUIDs; any
// other uid gets 403. Elsewhere a socket is refused with [ErrNotSupported].
//
// On TCP (Options.TCP), TLS is required, with a bearer token
// (Options.Tokens, by name, compared in constant time) and/or a client
// certificate that chains to Options.ClientCAs; with both, both are
// needed. [Start] refuses TCP without them ([ErrInsecureTCP]). A request
// without credentials gets 401, one whose credentials are refused 403;
// both are logged (the logger's warning records) with the address and
// the reason. The token is read from the Authorization header only. A
// push, revert or restart that a browser marks as coming from a page of
// another site (net/http's CrossOriginProtection) gets 403: a browser
// holding the client certificate presents it to any page's request.
//
// Slow clients: headers within 10 s, a body within Options.BodyTimeout
// (then the connection is closed), idle connections closed after 2 min;
// an event stream whose client stops reading is dropped after a write
// blocked 10 s and does not hold [Server.Close] up. A known path asked
// with another method gets 405 with Allow.
//
// # Audit
//
// Every mutating call (push, revert, restart), accepted or refused (for
// its credentials too: who is then what is known, "unauthenticated ADDR"
// without any), is recorded as an event of type "audit" in the manager's history
// ([hotswap.Manager.Record]) and logged: who ("uid=1000 pid=4242" on the
// socket, "cert CN=alice" or "token ci" on TCP), what, the patch and the
// result, with the error of a refusal.
//
// # Push
//
// A pushed bundle (at most Options.MaxPush bytes, else 413) is written to
// <state dir>/pushed/<sha256>.hpatch (synced, renamed), loaded with the
// runtime's bundle loader, so it passes the checks of a bundle dropped
// into the watched directory, and applied; a newer version of an applied
// bundle ID replaces it in one swap. The call answers once the journal
// (package baseline/journal) is synced: the journal keeps a copy of the
// bundle under its manifest's ID@VERSION, so a crash right after the
// answer applies it again at the next start of the same baseline, before
// the API serves; on a new baseline it is superseded, as the journal's
// rules say. A revert answers once the journal is synced too. A refused
// bundle's file is removed; an applied one's stays, also after a revert.
// Pushes need the bundle loader and a state directory (else 501).
//
// # Lifecycle
//
// [Start] listens and serves; [Server.Close] ends the event streams,
// waits for the calls under way and removes the socket. Close it before
// the manager.
package admin
