package script

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/traefik/yaegi/interp"
)

// stopper stops every piece of interpreted code of one interpreter, at
// once: calls in flight through funcs fetched earlier, goroutines the
// script started, funcs it handed to timers, and its top-level code.
//
// yaegi (v0.16.1) has the mechanism but exposes it only inside
// EvalWithContext, for the code that call runs: each interpreted frame
// carries the interpreter's run id from when it was created, every step
// of interpreted code checks it against the interpreter's current id and
// stops on a difference, and every channel operation also selects on the
// interpreter's done channel. A frame of a call through a fetched func
// takes the id of the package's root frame, so bumping the interpreter's
// id ends every call in flight at its next step and makes every later
// call return at once; closing done wakes code blocked on a channel.
// EvalWithContext reaches both through an unexported method, so this
// reaches the two fields it touches (Interpreter.id and Interpreter.done)
// by reflection. newStopper checks their types, and TestCallTimeout and
// TestRevertStopsRunningCall fail if a new yaegi version changes how they
// are used.
//
// Code blocked inside compiled code (a read, a mutex) stops when that
// call returns; the sandbox's time.Sleep returns when the stopper stops.
type stopper struct {
	id   *uint64       // Interpreter.id, only changed atomically
	done chan struct{} // Interpreter.done of the current run
	once sync.Once     // guards the close of done
}

var errYaegiLayout = errors.New("script: this yaegi version keeps its run id or done channel elsewhere; the loader cannot stop interpreted code (built against yaegi " + yaegiVersion + ")")

// newStopper returns a stopper for i, which must have been given its done
// channel already (by an EvalWithContext or EvalPathWithContext call):
// the stopper closes the channel i has now.
func newStopper(i *interp.Interpreter) (*stopper, error) {
	v := reflect.ValueOf(i).Elem()
	id, done := v.FieldByName("id"), v.FieldByName("done")
	if !id.IsValid() || id.Type() != reflect.TypeFor[uint64]() || !done.IsValid() || done.Type() != reflect.TypeFor[chan struct{}]() {
		return nil, errYaegiLayout
	}
	s := &stopper{
		id:   (*uint64)(unsafe.Pointer(id.UnsafeAddr())),
		done: *(*chan struct{})(unsafe.Pointer(done.UnsafeAddr())),
	}
	if s.done == nil {
		return nil, errYaegiLayout
	}
	return s, nil
}

// stop ends the interpreted code running now, at its next step. It may be
// called any number of times: each call also ends code that started after
// the previous one (the top-level code of a script whose compilation ended
// after its deadline takes the id current when it starts).
func (s *stopper) stop() {
	atomic.AddUint64(s.id, 1)
	s.once.Do(func() { close(s.done) })
}
