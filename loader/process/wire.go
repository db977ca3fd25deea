package process

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// The call channel is a stream of frames over a unix socket that the plugin
// listens on and the host dials (a few connections per process). Every
// frame is
//
//	length uint32 LE   // of the rest of the frame
//	type   byte        // frameCall, frameCancel or frameResult
//	id     uint64 LE   // chosen by the host, unique per connection
//	body
//
// A call's body is the slot index (uvarint, the slot's position in the
// plugin's hello), the deadline (varint Unix nanoseconds, 0 for none) and
// the encoded arguments. A result's body is a status byte and, for
// statusOK, the encoded results followed, for funcs with an error result, by
// a presence byte and the error message. A cancel has no body: the plugin
// cancels the call's context; the host has already stopped waiting.
//
// Calls on one connection are multiplexed: many may be in flight, and
// results come back in any order.

const (
	frameCall   byte = 1
	frameCancel byte = 2
	frameResult byte = 3
)

const (
	statusOK      byte = 0 // results follow
	statusPanic   byte = 1 // the function panicked: value and stack follow as strings
	statusBadCall byte = 2 // the plugin could not decode the call: a message follows
)

// channelVersion is the version of the call channel's frames; the host
// refuses a plugin that speaks another.
const channelVersion = 1

const (
	frameHeader = 4 + 1 + 8
	// maxFrame bounds a frame (arguments or results of one call, or an HTTP
	// body). Larger messages fail with ErrTooLarge.
	maxFrame = 64 << 20
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
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// read returns the next frame. Its body is read into buf (grown if needed)
// unless the frame was begun by an earlier, interrupted call. A large body
// is read in steps, so that a frame that only claims to be large costs no
// more memory than the bytes that actually arrive.
func (fr *frameReader) read(buf []byte) (typ byte, id uint64, body []byte, err error) {
	if !fr.inBody {
		for fr.hdrN < frameHeader {
			m, err := fr.r.Read(fr.hdr[fr.hdrN:])
			fr.hdrN += m
			if err != nil && fr.hdrN < frameHeader {
				return 0, 0, nil, err
			}
		}
		size := binary.LittleEndian.Uint32(fr.hdr[:4])
		if size < frameHeader-4 || size > maxFrame {
			return 0, 0, nil, fmt.Errorf("%w: bad frame length %d", ErrProtocol, size)
		}
		fr.typ = fr.hdr[4]
		fr.id = binary.LittleEndian.Uint64(fr.hdr[5:])
		fr.n = int(size) - (frameHeader - 4)
		fr.body = buf[:0]
		fr.inBody = true
	}
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
			return 0, 0, nil, err
		}
	}
	typ, id, body = fr.typ, fr.id, fr.body
	fr.hdrN, fr.inBody, fr.body = 0, false, nil
	return typ, id, body, nil
}
