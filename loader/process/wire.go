package process

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
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

// frameReader reads frames from a buffered stream.
type frameReader struct {
	r   *bufio.Reader
	hdr [frameHeader]byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// next reads the next frame's header and returns its type, id and body
// length. The caller then reads the body with body.
func (fr *frameReader) next() (typ byte, id uint64, n int, err error) {
	if _, err = io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, 0, 0, err
	}
	size := binary.LittleEndian.Uint32(fr.hdr[:4])
	if size < frameHeader-4 || size > maxFrame {
		return 0, 0, 0, fmt.Errorf("%w: bad frame length %d", ErrProtocol, size)
	}
	return fr.hdr[4], binary.LittleEndian.Uint64(fr.hdr[5:]), int(size) - (frameHeader - 4), nil
}

// body reads n bytes into buf (grown if needed) and returns them.
func (fr *frameReader) body(buf []byte, n int) ([]byte, error) {
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(fr.r, buf)
	return buf, err
}
