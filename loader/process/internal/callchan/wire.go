package callchan

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// The call channel is a stream of frames over a unix socket that the plugin
// listens on and the host dials (a few connections per process). Every
// frame is
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

const (
	frameCall   byte = 1
	frameCancel byte = 2
	frameResult byte = 3
	frameHead   byte = 4
	frameBody   byte = 5
	frameFlush  byte = 6
	frameEnd    byte = 7
	frameWindow byte = 8
)

const (
	statusOK      byte = 0 // results follow
	statusPanic   byte = 1 // the function panicked: value and stack follow as strings
	statusBadCall byte = 2 // the plugin could not decode the call: a message follows
	statusAbort   byte = 3 // HTTP: the handler panicked with http.ErrAbortHandler
)

// channelVersion is the version of the call channel's frames; the host
// refuses a plugin that speaks another.
const Version = 2

const (
	frameHeader = 4 + 1 + 8
	// maxFrame bounds a frame (arguments or results of one call, or an HTTP
	// head). Larger messages fail with ErrTooLarge; HTTP bodies stream in
	// frames of at most bodyChunk bytes and have no size limit.
	maxFrame = 64 << 20
	// writeStall is how long a write to a connection may make no progress
	// before the host gives up on the connection: the peer stopped reading.
	writeStall = 2 * time.Second
)

// beginFrame appends a frame header with a zero length to b.
func beginFrame(b []byte, typ byte, id uint64) []byte {
	b = append(b, 0, 0, 0, 0, typ)
	return binary.LittleEndian.AppendUint64(b, id)
}

// endFrame fills in the length of the frame that starts at b[0].
func endFrame(b []byte) error {
	n := len(b) - 4
	if n > maxFrame {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, n, maxFrame)
	}
	binary.LittleEndian.PutUint32(b, uint32(n))
	return nil
}

// setFrameID sets the id of the frame that starts at b[0].
func setFrameID(b []byte, id uint64) { binary.LittleEndian.PutUint64(b[5:], id) }

// frameReader reads frames from a buffered stream. It is resumable: when
// a read fails (a read deadline that interrupts a waiting leader), the next
// call goes on where it stopped.
type frameReader struct {
	r *bufio.Reader

	hdr    [frameHeader]byte
	hdrN   int  // header bytes read so far
	inBody bool // the header is complete; reading the body
	typ    byte
	id     uint64
	n      int    // body length
	body   []byte // body read so far

	admitted bool         // the body's memory was asked for (see read)
	charge   atomic.Int64 // memory admitted for the body; taken by read or takeCharge
}

// takeCharge returns the memory admitted for a frame that is half read,
// for a connection that broke: the frame will never be delivered.
func (fr *frameReader) takeCharge() int { return int(fr.charge.Swap(0)) }

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// errCutFrame is the error of a connection closed in the middle of a frame.
var errCutFrame = fmt.Errorf("%w: connection closed in the middle of a frame", ErrProtocol)

// read returns the next frame. Its body is read into buf (grown if needed)
// unless the frame was begun by an earlier, interrupted call. A large body
// is read in steps, so that a frame that only claims to be large costs no
// more memory than the bytes that actually arrive.
//
// With a memory budget mem, the body's length is asked of mem once per
// frame after its header, before the body is read (waiting until ctx ends;
// an error is returned and the next read asks again). The amount admitted
// is returned as charge with the frame: the caller releases it when done
// with the body.
func (fr *frameReader) read(buf []byte, ctx context.Context, mem *MemBudget) (typ byte, id uint64, body []byte, charge int, err error) {
	if !fr.inBody {
		for fr.hdrN < frameHeader {
			want := frameHeader
			if fr.hdrN < 4 {
				want = 4 // check the length as soon as it is in
			}
			m, err := fr.r.Read(fr.hdr[fr.hdrN:want])
			fr.hdrN += m
			if fr.hdrN == 4 && m > 0 {
				if size := binary.LittleEndian.Uint32(fr.hdr[:4]); size < frameHeader-4 || size > maxFrame {
					return 0, 0, nil, 0, fmt.Errorf("%w: bad frame length %d (limit %d)", ErrProtocol, size, maxFrame)
				}
			}
			if err != nil && fr.hdrN < frameHeader {
				if fr.hdrN > 0 && errors.Is(err, io.EOF) {
					err = errCutFrame
				}
				return 0, 0, nil, 0, err
			}
		}
		size := binary.LittleEndian.Uint32(fr.hdr[:4])
		fr.typ = fr.hdr[4]
		fr.id = binary.LittleEndian.Uint64(fr.hdr[5:])
		fr.n = int(size) - (frameHeader - 4)
		fr.body = buf[:0]
		fr.inBody = true
		fr.admitted = false
	}
	if !fr.admitted && mem != nil {
		c, err := mem.acquire(ctx, fr.n)
		if err != nil {
			return 0, 0, nil, 0, err
		}
		fr.charge.Store(int64(c))
	}
	fr.admitted = true
	const step = 1 << 20
	for len(fr.body) < fr.n {
		if len(fr.body) == cap(fr.body) {
			want := fr.n
			if want > step && cap(fr.body) < want {
				want = min(fr.n, max(2*cap(fr.body), step))
			}
			fr.body = slices.Grow(fr.body, want-len(fr.body))
		}
		m, err := fr.r.Read(fr.body[len(fr.body):min(cap(fr.body), fr.n)])
		fr.body = fr.body[:len(fr.body)+m]
		if err != nil && len(fr.body) < fr.n {
			if errors.Is(err, io.EOF) {
				err = errCutFrame
			}
			return 0, 0, nil, 0, err
		}
	}
	typ, id, body, charge = fr.typ, fr.id, fr.body, int(fr.charge.Swap(0))
	fr.hdrN, fr.inBody, fr.body = 0, false, nil
	return typ, id, body, charge, nil
}
