package callchan

import (
	"net"
	"net/http"
	"reflect"
)

// The pieces below are for tests of the host that play a hostile or
// stuck plugin: they read and write frames by hand, as a plugin does. The
// two ends themselves do not use them.

// Limits and frame types, for a peer that writes frames by hand.
const (
	FrameHeader     = frameHeader
	MaxFrame        = maxFrame
	FrameCall       = frameCall
	FrameResult     = frameResult
	FrameFlush      = frameFlush
	MaxDepth        = maxDepth
	CycleCheckDepth = cycleCheckDepth
	WriteStall      = writeStall
)

// ReadCalls reads the host's frames on c and sends the id and body of
// each call frame to calls, until c closes; then it closes calls.
func ReadCalls(c net.Conn, calls chan<- [2]any) {
	defer close(calls)
	fr := newFrameReader(c)
	for {
		typ, id, body, _, err := fr.read(nil, nil, nil)
		if err != nil {
			return
		}
		if typ == frameCall {
			calls <- [2]any{id, body}
		}
	}
}

// StringArg returns the first argument of a call body whose first
// argument is a string.
func StringArg(body []byte) string {
	d := newDecoder(body)
	d.uvarint()
	d.varint()
	return d.string()
}

// StringResult is a good result frame of a func(string) (string, error).
func StringResult(id uint64, s string) []byte {
	e := encoder{b: beginFrame(nil, frameResult, id)}
	e.b = append(e.b, statusOK)
	e.string(s)
	e.b = append(e.b, errNone)
	_ = endFrame(e.b)
	return e.b
}

// HeadFrame is an HTTP response head frame.
func HeadFrame(codecs *HTTPCodecs, id uint64, status int, h http.Header) []byte {
	e := encoder{b: beginFrame(nil, frameHead, id)}
	head := httpHead{Status: status, Header: h}
	codecs.head.enc(&e, reflect.ValueOf(&head).Elem())
	_ = endFrame(e.b)
	return e.b
}

// FlushFrame is a flush frame carrying body (which a good plugin never
// sends).
func FlushFrame(id uint64, body []byte) []byte {
	f := beginFrame(nil, frameFlush, id)
	f = append(f, body...)
	_ = endFrame(f)
	return f
}

// HTTPResultFrame is the result frame that ends an HTTP call, with a
// final head of status unless status is 0.
func HTTPResultFrame(codecs *HTTPCodecs, id uint64, status int) []byte {
	e := encoder{b: beginFrame(nil, frameResult, id)}
	e.b = append(e.b, statusOK)
	end := httpEnd{}
	if status != 0 {
		end.Head = &httpHead{Status: status}
	}
	codecs.end.enc(&e, reflect.ValueOf(&end).Elem())
	_ = endFrame(e.b)
	return e.b
}

// Pending returns the number of calls waiting for an answer on the
// connection's current link, and the number of calls made on it.
func (cc *Conn) Pending() (waiting int, made uint64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.cur == nil {
		return 0, 0
	}
	return len(cc.cur.pending), cc.cur.next
}
