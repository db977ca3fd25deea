// Package registry holds a program's patchable functions.
//
// # Slots
//
// A slot is one patchable function: a name such as "billing.Price", a Go func
// type, the compiled-in (baseline) implementation, and the implementation
// that serves now. A server registers its slots once, at start-up, and calls
// through them:
//
//	var price = registry.MustRegister(reg, "billing.Price", basePrice)
//
//	func handler(...) { total := price.Load()(cart) }
//
// [Func.Load] is one atomic load of the slot's func word: the serving
// implementation's func value, kept in a word of its own so that the call
// that follows is a plain indirect call. There is no lock and no
// allocation, so a call through a slot costs about as much as a call
// through a func variable, and a swap takes effect on the next call.
// In-flight calls finish on the implementation they started on.
//
// What describes the implementation (the patch that provides it, the
// generation, since when) is an immutable version record published apart
// from the func word, after it: [Func.Info] and [Func.PatchID] may show the
// previous version for a moment after Load already returns the new
// implementation. The swap manager's status is the consistent view.
//
// # Who may change a slot
//
// Nothing in this package's API changes a slot after registration. Only
// the swap manager (package hotswap) can, through an internal package of
// this module that code outside it cannot import, so every change is
// recorded in the manager's history and can be reverted. One manager at a
// time manages a registry.
//
// # Type-erased view
//
// The rest of the framework (loaders, the manager, admin tools) works with
// [Slot], which reports a slot's name, its reflect.Type and the version it
// serves. Every *[Func][F] is a Slot.
package registry
