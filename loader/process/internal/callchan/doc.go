// Package callchan is the call channel of process patches: how a call
// through a slot reaches the function a plugin process serves, and how its
// results come back. The host's loader (loader/process) is its client
// ([Conn]); a plugin's main (loader/process/procplugin) runs its [Server].
// Both import this package and nothing of each other, so a plugin links
// nothing of the host. This file is the one description of the protocol;
// the other documents point here.
//
// # Handshake
//
// go-plugin starts the plugin, checks its magic cookie and carries its
// logs; the control service (loader/process/internal/control) then asks
// the plugin for the channel [Version] it speaks, the slots it serves with
// their canonical type descriptions (in the order that gives each its
// index on the channel) and the path of its unix socket, in a private
// directory of the host. The host refuses a plugin that speaks another
// version or serves a slot whose description differs from its own.
//
// # Frames
//
// The call channel is a stream of frames over a unix socket that the plugin
// listens on and the host dials (a few connections per process). Every
// frame is:
//
//	length uint32 LE   // of the rest of the frame, at most maxFrame
//	type   byte        // one of the frame types below
//	id     uint64 LE   // the call, chosen by the host, unique per connection
//	body
//
// Frame types, by direction:
//
//	frameCall   host → plugin  slot index (uvarint, the slot's position in
//	                           the plugin's hello), deadline (varint Unix
//	                           nanoseconds, 0 for none) and the encoded
//	                           arguments; for an HTTP handler the request
//	                           head (httpRequest), with the whole body when
//	                           it is small and its length known
//	frameCancel host → plugin  no body: the plugin cancels the call's
//	                           context; the host has stopped waiting
//	frameResult plugin → host  a status byte and, for statusOK, the encoded
//	                           results followed, for funcs with an error
//	                           result, by the error; ends the call. For an
//	                           HTTP handler it ends the response: the head
//	                           if none was sent, the last body bytes and the
//	                           final header map when trailers are declared
//	frameHead   plugin → host  HTTP: status and header (1xx any number of
//	                           times, then one final status)
//	frameBody   both           HTTP: body bytes, request (host → plugin) or
//	                           response (plugin → host); the sender may have
//	                           at most the receiver's window unacknowledged
//	frameFlush  plugin → host  HTTP: flush what was written to the client
//	frameEnd    host → plugin  HTTP: the request body ended: its trailers and
//	                           the read error, if any
//	frameWindow both           HTTP: uvarint n: the receiver has consumed n
//	                           more body bytes; the sender may send n more
//
// Calls on one connection are multiplexed: many may be in flight, and
// frames of different calls interleave in any order.
//
// Anything else is a protocol error: a length over maxFrame or under the
// header, a connection closed in the middle of a frame, an unknown frame
// type, a frame for a call never made on the connection, a frame the
// receiver does not expect for the call (a result without a status, HTTP
// frames for a plain call, body bytes beyond the window, a flush frame with
// a body, more than maxQueued frames or maxHeld bytes queued for one HTTP
// call).
// The host then drops that connection: the calls in flight on it fail with
// ErrProtocol (the call that met the error reports it to the manager, once),
// and the next call redials. A plugin that stops reading its socket is a
// protocol error too, once a request write has made no progress for
// writeStall. A well-framed result whose values do not decode fails its own
// call with ErrProtocol (reported) and leaves the connection up.
//
// # Values
//
// Arguments and results are encoded with a compact binary codec compiled
// once per type from reflection ([Analyze], [CodecBuilder]): varints for
// integers, length-prefixed strings and slices, fields in declaration
// order. Both ends compile the codec from the same type (the handshake
// checks that the descriptions match), so nothing about the type travels
// with a value. Types that implement encoding.BinaryMarshaler (and whose
// pointer implements BinaryUnmarshaler), such as time.Time, travel as
// their marshaled bytes. A function's own error travels as a kind byte
// (none, plain, canceled, deadline exceeded) and its message, so that
// errors.Is(err, context.DeadlineExceeded) holds on both sides. A panic
// travels as its value and stack ([PanicError]).
//
// # HTTP handlers
//
// An HTTP handler slot streams across the boundary both ways:
//
//   - The call frame carries the request head: method, URL (as the host's
//     handler sees it, after any rewriting middleware), headers, declared
//     trailers, length and transfer encoding, Close, the TLS state that can
//     cross, and the headers already set on the host's ResponseWriter. A
//     body of known length up to inlineBody bytes travels with it; any
//     other body streams in frameBody frames, within a window the plugin
//     grants as its handler reads, and ends with frameEnd (its trailers, or
//     the host's read error). A chunked body stays chunked.
//   - The plugin's ResponseWriter behaves as net/http's: the header map is
//     taken when the status is written (later changes are ignored, except
//     declared trailers and "Trailer:" keys, sent as trailers), 1xx
//     statuses go out at once, Flush sends what was written and flushes the
//     host's writer. Body bytes stream in frameBody frames within the
//     host's window, so a slow client holds back the plugin's writes, not
//     the host's memory; a response that fits in one chunk and is never
//     flushed travels whole in the result frame, which lets net/http set
//     Content-Length as it does for a direct handler.
//   - A handler that panics with http.ErrAbortHandler aborts the response
//     as net/http does; any other panic answers 502 Bad Gateway if nothing
//     was sent yet, and aborts the response otherwise. Both count as the
//     patch's failure; the abort does not.
//
// Not bridged: Hijack (refused with errHijack), Push, the ResponseController's deadlines and
// EnableFullDuplex, and r.Pattern and path values (the plugin's own mux
// can set them).
//
// # No goroutine switch on a call's path
//
// The host has no reader goroutine per connection: a caller that has sent
// its request and finds nobody reading reads the frames itself until its
// own answer arrives, handing other callers' frames to them on the way
// (see [Conn]); the plugin runs a call on the goroutine that read it. A
// lone call so costs about one socket round trip, which a reader
// goroutine on each side would double.
package callchan
