package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan"
	"github.com/hotpatch-go/hotpatch/registry"
)

type chainNode struct {
	V    int
	Next *chainNode
}

type tree []tree

func chain(n int) *chainNode {
	var head *chainNode
	for i := range n {
		head = &chainNode{V: i, Next: head}
	}
	return head
}

// limitSlots registers the slots of the limit tests and returns the funcs
// a plugin serves for them.
func limitSlots() (*registry.Registry, map[string]any) {
	reg := registry.New()
	registry.MustRegister(reg, "t.Len", func(*chainNode) (int, error) { return 0, nil })
	registry.MustRegister(reg, "t.Tree", func(int) (tree, error) { return nil, nil })
	registry.MustRegister(reg, "t.Echo", func(string) (string, error) { return "", nil })
	registry.MustRegister(reg, "t.Deadline", func(context.Context) (int64, bool) { return 0, false })
	registry.MustRegister(reg, "t.Big", func(int) ([]byte, error) { return nil, nil })
	served := map[string]any{
		"t.Len": func(n *chainNode) (int, error) {
			k := 0
			for ; n != nil; n = n.Next {
				k++
			}
			return k, nil
		},
		"t.Tree": func(depth int) (tree, error) {
			var t tree
			for range depth {
				t = tree{t}
			}
			return t, nil
		},
		"t.Echo": func(s string) (string, error) { return s, nil },
		"t.Deadline": func(ctx context.Context) (int64, bool) {
			d, ok := ctx.Deadline()
			return d.Unix(), ok
		},
		"t.Big": func(n int) ([]byte, error) { return make([]byte, n), nil },
	}
	return reg, served
}

// TestChanDepthAndCycles: a cyclic argument is refused with an error (it
// used to overflow the host's stack), a value nested past callchan.MaxDepth is
// refused by the encoder before it is sent, a deep but allowed one
// crosses, and none of it counts against the patch.
func TestChanDepthAndCycles(t *testing.T) {
	reg, served := limitSlots()
	e := servePlugin(t, reg, served, 1)
	length := e.impls["t.Len"].(func(*chainNode) (int, error))

	n := &chainNode{V: 1}
	n.Next = n
	if _, err := length(n); !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), "cyclic") {
		t.Fatalf("cyclic argument: err = %v, want a cyclic-value error", err)
	}
	long := &chainNode{V: 0, Next: chain(2 * callchan.CycleCheckDepth)}
	long.Next.Next.Next = long // a cycle that starts deep
	if _, err := length(long); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("deep cycle: err = %v", err)
	}
	if _, err := length(chain(callchan.MaxDepth + 5)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("list of %d: err = %v, want ErrTooLarge", callchan.MaxDepth+5, err)
	}
	if got, err := length(chain(callchan.MaxDepth - 1)); err != nil || got != callchan.MaxDepth-1 {
		t.Fatalf("list of %d: %d, %v", callchan.MaxDepth-1, got, err)
	}
	// The plugin's results are bounded the same way.
	tr := e.impls["t.Tree"].(func(int) (tree, error))
	if _, err := tr(callchan.MaxDepth + 5); err == nil {
		t.Fatal("tree deeper than callchan.MaxDepth crossed")
	}
	if _, err := tr(100); err != nil {
		t.Fatal(err)
	}
	if got := e.sink.count(); got != 1 { // only the plugin's refusal of its own result
		t.Fatalf("%d failures reported, want 1 (the plugin's result)", got)
	}
}

// TestWireDeadline: a deadline after 2262 travels as none, not as one in
// the past (UnixNano overflowed).
func TestWireDeadline(t *testing.T) {
	reg, served := limitSlots()
	e := servePlugin(t, reg, served, 1)
	dl := e.impls["t.Deadline"].(func(context.Context) (int64, bool))
	ctx, cancel := context.WithDeadline(context.Background(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel()
	if _, ok := dl(ctx); ok {
		t.Error("a deadline in 3000 reached the plugin as a deadline before 2262")
	}
	near := time.Now().Add(time.Hour)
	ctx2, cancel2 := context.WithDeadline(context.Background(), near)
	defer cancel2()
	if got, ok := dl(ctx2); !ok || got != near.Unix() {
		t.Errorf("deadline = %d, %v, want %d", got, ok, near.Unix())
	}
}

// TestChanMalformedFrame: one malformed frame drops its connection only:
// the call that met it fails with a protocol error (reported once, not
// labelled as an exit), a call in flight beside it fails unreported, and
// the next calls redial and succeed.
func TestChanMalformedFrame(t *testing.T) {
	hdr := func(length uint32, typ byte, id uint64) []byte {
		b := binary.LittleEndian.AppendUint32(nil, length)
		b = append(b, typ)
		return binary.LittleEndian.AppendUint64(b, id)
	}
	cases := []struct {
		name  string
		frame func(id uint64) []byte
		close bool // close the connection after the frame
	}{
		{"lying length", func(id uint64) []byte { return hdr(callchan.MaxFrame+1, callchan.FrameResult, id) }, false},
		{"short length", func(id uint64) []byte { return hdr(3, callchan.FrameResult, id) }, false},
		{"cut frame", func(id uint64) []byte { return callchan.StringResult(id, "hello")[:callchan.FrameHeader+3] }, true},
		{"unknown type", func(id uint64) []byte { return append(hdr(9+1, 99, id), 0) }, false},
		{"empty result", func(id uint64) []byte { return hdr(9, callchan.FrameResult, id) }, false},
		{"HTTP frame for a call", func(id uint64) []byte { return hdr(9, callchan.FrameFlush, id) }, false},
		{"garbage", func(uint64) []byte { return []byte("HTTP/1.1 400 Bad Request\r\n\r\n") }, false},
		{"short garbage", func(id uint64) []byte {
			return append([]byte("\x05\x00\x00\x00\x03junk"), callchan.StringResult(id, "x")...)
		}, false},
	}
	reg, served := limitSlots()
	slots := slotsOf(t, served)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sock := rawPlugin(t, func(n int, c net.Conn) {
				calls := make(chan [2]any, 16)
				go callchan.ReadCalls(c, calls)
				if n == 0 { // the first connection: two calls, one bad frame
					first := <-calls
					<-calls
					c.Write(tc.frame(first[0].(uint64)))
					if tc.close {
						c.Close()
					}
					io.Copy(io.Discard, c)
					return
				}
				for call := range calls {
					if _, err := c.Write(callchan.StringResult(call[0].(uint64), callchan.StringArg(call[1].([]byte)))); err != nil {
						return
					}
				}
			})
			e := newChanEnv(t, reg, sock, slots, 1, nil)
			echo := e.impls["t.Echo"].(func(string) (string, error))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { _, errs[i] = echo("x") })
			}
			wg.Wait()
			for i, err := range errs {
				if !errors.Is(err, ErrProtocol) || errors.Is(err, ErrProcessExited) {
					t.Errorf("call %d: err = %v, want a protocol error not labelled as an exit", i, err)
				}
			}
			if got := e.sink.count(); got != 1 {
				t.Errorf("%d failures reported, want 1", got)
			}
			for range 3 {
				if got, err := echo("again"); err != nil || got != "again" {
					t.Fatalf("after redial: %q, %v", got, err)
				}
			}
		})
	}
}

// TestChanStuckPlugin: a plugin that stops reading its socket holds a
// caller only until its deadline; callers queued behind the stuck write
// leave when their contexts end; a caller without a deadline gets a
// protocol error after callchan.WriteStall, reported once; later calls redial.
func TestChanStuckPlugin(t *testing.T) {
	reg, served := limitSlots()
	slots := slotsOf(t, served)
	release := make(chan struct{})
	started := make(chan struct{}) // the large request's first bytes arrived
	sock := rawPlugin(t, func(n int, c net.Conn) {
		if n == 0 {
			// Read the start of the first request, then nothing more.
			if _, err := io.ReadFull(c, make([]byte, 4096)); err == nil {
				close(started)
			}
			<-release
			return
		}
		calls := make(chan [2]any, 16)
		go callchan.ReadCalls(c, calls)
		for call := range calls {
			if _, err := c.Write(callchan.StringResult(call[0].(uint64), callchan.StringArg(call[1].([]byte)))); err != nil {
				return
			}
		}
	})
	defer close(release)
	e := newChanEnv(t, reg, sock, slots, 1, nil)
	echo := e.impls["t.Echo"].(func(string) (string, error))
	// A slot with a context, served by the same stand-in (only the
	// deadline matters: the request never arrives).
	ctxShape, err := callchan.Analyze(reflect.TypeFor[func(context.Context, string) error](), callchan.NewCodecBuilder())
	if err != nil {
		t.Fatal(err)
	}
	ctxEcho := func(ctx context.Context, s string) error {
		in := e.v.acquire()
		defer in.release()
		_, err := in.conn().Call(ctx, 2, ctxShape, []reflect.Value{reflect.ValueOf(s)})
		return err
	}
	big := strings.Repeat("x", 16<<20) // more than the socket buffers hold
	done := make(chan error, 3)
	// The large request goes first and is seen to hold the link (its
	// write stalls once the socket buffers are full); only then does the
	// small one queue behind it. Started the other way round on a loaded
	// machine, the small request could take the link first and the large
	// one give up before writing, leaving the link whole.
	bigDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		bigDone <- ctxEcho(ctx, big)
	}()
	select {
	case <-started:
	case err := <-bigDone:
		// Nothing was written in 1.5 s: a machine this loaded cannot
		// tell a stuck link from a slow one.
		t.Skipf("the large request ended before its first bytes reached the plugin: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go func() { done <- ctxEcho(ctx, "small") }()
	hang := time.After(callchan.WriteStall + 10*time.Second)
	select {
	case err := <-bigDone:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("large request: err = %v, want DeadlineExceeded", err)
		}
	case <-hang:
		t.Fatal("a caller with a 1.5 s deadline is still waiting on a plugin that does not read")
	}
	// The small request, queued behind the stuck write, leaves when its
	// own deadline passes (or earlier, as a call dropped with the link the
	// large one broke).
	select {
	case err := <-done:
		var dropped *callchan.DroppedError
		if !errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &dropped) {
			t.Errorf("small request: err = %v, want DeadlineExceeded or a dropped connection", err)
		}
	case <-hang:
		t.Fatal("a caller queued behind a stuck write is still waiting after its deadline")
	}
	// The cut-off request broke the link: the next call redials.
	if got, err := echo("after"); err != nil || got != "after" {
		t.Fatalf("after the stuck link: %q, %v", got, err)
	}
}

// TestChanStallNoDeadline: a caller without a deadline writing to a plugin
// that does not read fails with a protocol error after callchan.WriteStall.
func TestChanStallNoDeadline(t *testing.T) {
	reg, served := limitSlots()
	slots := slotsOf(t, served)
	release := make(chan struct{})
	sock := rawPlugin(t, func(n int, c net.Conn) { <-release })
	defer close(release)
	e := newChanEnv(t, reg, sock, slots, 1, nil)
	echo := e.impls["t.Echo"].(func(string) (string, error))
	done := make(chan error, 1)
	go func() { _, err := echo(strings.Repeat("x", 16<<20)); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "not read") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(callchan.WriteStall + 20*time.Second):
		t.Fatal("a write to a plugin that does not read never ends")
	}
	if got := e.sink.count(); got != 1 {
		t.Errorf("%d failures reported, want 1", got)
	}
}

// TestChanResultMemory: concurrent large results are held within the
// memory budget shared by the connections (they used to grow the host by
// about 3.4 times each, with only a per-call limit).
func TestChanResultMemory(t *testing.T) {
	reg, served := limitSlots()
	socket, slots := startServer(t, served)
	mem := callchan.NewMemBudget(callchan.MaxFrame)
	e := newChanEnv(t, reg, socket, slots, 2, mem)
	bigf := e.impls["t.Big"].(func(int) ([]byte, error))
	const size = 20 << 20
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			b, err := bigf(size)
			if err != nil || len(b) != size {
				t.Errorf("len %d, %v", len(b), err)
			}
		})
	}
	wg.Wait()
	if peak := mem.PeakUse(); peak > callchan.MaxFrame {
		t.Fatalf("peak %d bytes of results held, budget %d", peak, callchan.MaxFrame)
	} else if peak < size {
		t.Fatalf("peak %d: results were not counted", peak)
	}
	if mem.InUse() != 0 {
		t.Fatalf("%d bytes never released", mem.InUse())
	}
	_ = bytes.MinRead
}
