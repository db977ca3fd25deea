package registry

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hotpatch-go/hotpatch/internal/slotaccess"
	"github.com/hotpatch-go/hotpatch/internal/slotname"
)

// Errors returned by [Register]. Each is wrapped with the slot name.
var (
	ErrNotFunc   = errors.New("registry: implementation type is not a func type")
	ErrNilFunc   = errors.New("registry: implementation is a nil func")
	ErrDuplicate = errors.New("registry: slot name already registered")
	ErrBadName   = errors.New("registry: malformed slot name (want dotted identifiers such as billing.Price)")
)

// Registry holds the patchable functions (slots) of a program. The zero value
// is not usable; call [New]. All methods are safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex    // guards slots, sorted and owner
	slots  map[string]Slot // by name
	sorted []Slot          // the same slots by name; replaced, never changed in place
	owner  bool            // a swap manager has claimed the registry
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{slots: make(map[string]Slot)}
}

// Slot is the type-erased view of a registered function, used by the rest of
// the framework and by tools that list or inspect slots. Every *[Func][F]
// is a Slot; type-assert to get the typed handle back.
type Slot interface {
	// Name returns the slot's registered name.
	Name() string
	// Type returns the slot's func type.
	Type() reflect.Type
	// Info describes the implementation the slot serves now.
	Info() Info
	// Impl returns the current implementation, boxed.
	Impl() any
	// BaselineImpl returns the compiled-in implementation, boxed.
	BaselineImpl() any

	writer() slotaccess.Writer
}

// Info describes a slot and the version it currently serves.
type Info struct {
	Name       string
	Type       reflect.Type
	PatchID    string    // "" while the baseline implementation serves
	Generation uint64    // manager generation at which the version became current; 0 for the baseline at registration
	Since      time.Time // when the version became current
}

// Register adds a patchable function to r under name and returns its typed
// handle. F must be a func type and impl must not be nil. Names are dotted
// identifiers with at least two parts, such as "billing.Price" or
// "api.v2.Hello", and are unique within a registry.
func Register[F any](r *Registry, name string, impl F) (*Func[F], error) {
	typ := reflect.TypeFor[F]()
	if typ.Kind() != reflect.Func {
		return nil, fmt.Errorf("register %q: %w: got %v", name, ErrNotFunc, typ)
	}
	if reflect.ValueOf(&impl).Elem().IsNil() {
		return nil, fmt.Errorf("register %q: %w", name, ErrNilFunc)
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("register %q: %w", name, ErrBadName)
	}
	f := &Func[F]{name: name, typ: typ, base: impl, boxed: impl}
	f.set(&version[F]{fn: impl, impl: impl, v: slotaccess.Version{Since: time.Now()}})

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.slots[name]; dup {
		return nil, fmt.Errorf("register %q: %w", name, ErrDuplicate)
	}
	r.slots[name] = f
	i := sort.Search(len(r.sorted), func(i int) bool { return r.sorted[i].Name() > name })
	r.sorted = slices.Insert(slices.Clone(r.sorted), i, Slot(f))
	return f, nil
}

// MustRegister is like [Register] but panics on error. It suits package-level
// registration of slots whose names and types are fixed at compile time.
func MustRegister[F any](r *Registry, name string, impl F) *Func[F] {
	f, err := Register(r, name, impl)
	if err != nil {
		panic(err)
	}
	return f
}

// ValidName reports whether name is a well-formed slot name: two or more
// identifiers ([A-Za-z_][A-Za-z0-9_]*) joined by dots.
func ValidName(name string) bool { return slotname.Valid(name) }

// Lookup returns the slot registered under name.
func (r *Registry) Lookup(name string) (Slot, bool) {
	r.mu.RLock()
	s, ok := r.slots[name]
	r.mu.RUnlock()
	return s, ok
}

// Slots returns every registered slot, sorted by name.
func (r *Registry) Slots() []Slot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.sorted)
}

// Len returns the number of registered slots.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.slots)
}

func init() {
	slotaccess.Install(slotaccess.Table{Claim: claim, Writer: writer})
}

// claim marks the registry reg as owned by one swap manager and returns
// the function that releases it; ok is false if another manager holds it.
// Package hotswap reaches it through internal/slotaccess.
func claim(reg any) (release func(), ok bool) {
	r, _ := reg.(*Registry)
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner {
		return nil, false
	}
	r.owner = true
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.owner = false
			r.mu.Unlock()
		})
	}, true
}

// writer returns the handle that changes the named slot of reg. Package
// hotswap reaches it through internal/slotaccess: every change goes
// through the swap manager so that history and rollback stay complete.
func writer(reg any, name string) (slotaccess.Writer, bool) {
	r, _ := reg.(*Registry)
	if r == nil {
		return nil, false
	}
	s, ok := r.Lookup(name)
	if !ok {
		return nil, false
	}
	return s.writer(), true
}
