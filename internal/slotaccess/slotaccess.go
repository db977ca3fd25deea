// Package slotaccess carries the capability to change a slot from the
// registry to the swap manager. Only packages of this module can import it,
// so user code cannot change a slot behind the manager's back and its
// history, and package registry exports nothing that users cannot call.
//
// Package registry fills the function table below when it is initialized
// ([Install]); package hotswap, which imports registry, finds it filled.
// The table is written once, before main runs, and only read afterwards.
package slotaccess

import "time"

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

// Table is what the registry gives the manager. The registry is passed as
// any: this package cannot name *registry.Registry without an import cycle.
type Table struct {
	// Claim marks the registry as owned by one manager and returns the
	// function that releases it; ok is false if another manager holds it.
	Claim func(reg any) (release func(), ok bool)
	// Writer returns the handle that changes the named slot; ok is false
	// if there is no such slot.
	Writer func(reg any, name string) (w Writer, ok bool)
}

var table Table

// Install fills the table; package registry calls it from its init.
func Install(t Table) { table = t }

// Claim calls the registry's Claim (see [Table]).
func Claim(reg any) (release func(), ok bool) { return table.Claim(reg) }

// WriterOf calls the registry's Writer (see [Table]).
func WriterOf(reg any, name string) (Writer, bool) { return table.Writer(reg, name) }
