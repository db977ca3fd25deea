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
// [Func.Load] is one atomic load of a pointer to an immutable version; the
// call that follows is an indirect call. There is no lock and no allocation,
// so a call through a slot costs about as much as a call through a func
// variable, and a swap takes effect on the next call. In-flight calls finish
// on the version they started on.
//
// # Who may change a slot
//
// Nothing in this package changes a slot after registration. Only the swap
// manager (package hotswap) can, through a capability that code outside this
// module cannot construct, so every change is recorded in the manager's
// history and can be reverted.
//
// # Type-erased view
//
// The rest of the framework (loaders, the manager, admin tools) works with
// [Slot], which reports a slot's name, its reflect.Type and the version it
// serves. Every *[Func][F] is a Slot.
package registry
