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

// The frames, their order and the protocol errors are described once, in
// the package documentation (doc.go).

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

// Version is the version of the call channel's frames; the host
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
