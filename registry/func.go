package registry

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/hotpatch-go/hotpatch/internal/slotaccess"
)

// Func is the typed handle of one slot. Call through it with
// f.Load()(args...): one atomic load, no lock, no allocation.
type Func[F any] struct {
	// fn is the serving implementation's func value (a pointer to its
	// closure record), kept apart from cur so that Load is a single
	// dependent load before the call.
	fn    unsafe.Pointer
	cur   atomic.Pointer[version[F]]
	name  string
	typ   reflect.Type
	base  F
	boxed any // base, boxed once
}

// version is one immutable implementation of a slot.
type version[F any] struct {
	fn   F
	impl any // fn, boxed once for the type-erased view
	v    slotaccess.Version
}

// Load returns the implementation that serves now. Call it on every use
// rather than keeping the result, so a swap takes effect on the next call.
func (f *Func[F]) Load() F {
	p := atomic.LoadPointer(&f.fn)
	return *(*F)(unsafe.Pointer(&p))
}

// Name returns the slot's registered name.
func (f *Func[F]) Name() string { return f.name }

// Type returns the slot's func type.
func (f *Func[F]) Type() reflect.Type { return f.typ }

// Baseline returns the compiled-in implementation.
func (f *Func[F]) Baseline() F { return f.base }

// BaselineImpl returns the compiled-in implementation, boxed.
func (f *Func[F]) BaselineImpl() any { return f.boxed }

// Impl returns the current implementation, boxed.
func (f *Func[F]) Impl() any { return f.cur.Load().impl }

// PatchID returns the ID of the patch that provides the current
// implementation, or "" for the baseline.
func (f *Func[F]) PatchID() string { return f.cur.Load().v.PatchID }

// Generation returns the manager generation at which the current
// implementation became current (0 for the baseline at registration).
func (f *Func[F]) Generation() uint64 { return f.cur.Load().v.Generation }

// Info describes the slot and the version it serves now, read atomically.
func (f *Func[F]) Info() Info {
	v := f.cur.Load().v
	return Info{Name: f.name, Type: f.typ, PatchID: v.PatchID, Generation: v.Generation, Since: v.Since}
}

func (f *Func[F]) writer() slotaccess.Writer { return (*funcWriter[F])(f) }

// funcWriter is the write side of a Func, handed out only through
// [Registry.Writer].
type funcWriter[F any] Func[F]

func (w *funcWriter[F]) Store(impl any, v slotaccess.Version) error {
	fn, ok := impl.(F)
	if !ok {
		return fmt.Errorf("registry: slot %q: implementation type %T is not %v", w.name, impl, w.typ)
	}
	if reflect.ValueOf(&fn).Elem().IsNil() {
		return fmt.Errorf("registry: slot %q: %w", w.name, ErrNilFunc)
	}
	(*Func[F])(w).set(&version[F]{fn: fn, impl: impl, v: v})
	return nil
}

func (w *funcWriter[F]) Reset(v slotaccess.Version) {
	v.PatchID = ""
	(*Func[F])(w).set(&version[F]{fn: w.base, impl: w.boxed, v: v})
}

// set publishes ver: first the func value that Load reads, then the
// metadata. A reader may see the new implementation a moment before its
// patch ID; the manager's status snapshot is the consistent view.
func (f *Func[F]) set(ver *version[F]) {
	atomic.StorePointer(&f.fn, *(*unsafe.Pointer)(unsafe.Pointer(&ver.fn)))
	f.cur.Store(ver)
}
