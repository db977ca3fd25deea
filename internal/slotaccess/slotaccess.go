// Package slotaccess carries the capability to change a slot from the
// registry to the swap manager. Only packages of this module can import it, so
// user code cannot change a slot behind the manager's back and its history.
package slotaccess

import "time"

// Key proves that the caller may write slots. Code outside this module cannot
// name the type and so cannot make one; the zero value is refused.
type Key struct {
	valid bool
}

// NewKey returns a valid key.
func NewKey() Key { return Key{valid: true} }

// Valid reports whether k came from NewKey.
func (k Key) Valid() bool { return k.valid }

// Version describes the implementation a slot serves.
type Version struct {
	PatchID    string    // "" for the baseline
	Generation uint64    // manager generation at which it became current
	Since      time.Time // when it became current
}

// Writer changes one slot. Store requires impl's dynamic type to equal the
// slot's type exactly; the caller checks first and Store re-checks.
type Writer interface {
	Store(impl any, v Version) error
	Reset(v Version)
}
