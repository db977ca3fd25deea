// Package loader holds what every kind of patch shares: the patch source
// format and its //hotpatch:slot directives, and the patch ID.
//
// The loaders themselves live in sub-packages, one per kind: loader/script
// (Go source interpreted by yaegi), loader/native (Go plugins built against
// the running binary) and loader/process (executables serving the slots
// from a subprocess). Each implements
// [github.com/hotpatch-go/hotpatch/hotswap.Loader] and reaches the manager
// only through the [github.com/hotpatch-go/hotpatch/hotswap.Host] each Load
// receives: slot lookups, failure reports, rollback, events and the logger.
// Package hotswap never imports them. This package imports no interpreter,
// plugin machinery nor hotswap, so any loader, build tool or test can use
// it.
//
// # The patch source format
//
// A patch is one ordinary Go source file. Each function that replaces a slot
// carries a directive naming the slot:
//
//	package patch
//
//	import "strings"
//
//	// Greet shouts now.
//	//hotpatch:slot example.Greet
//	func Greet(name string) string { return "HELLO, " + strings.ToUpper(name) }
//
// The rules, each enforced by [Parse] with an [*Error] that carries the
// file, line and column:
//
//   - The directive is a line comment that starts exactly with
//     "//hotpatch:slot " (no space after the slashes, like //go: directives)
//     followed by one slot name and nothing else. "// hotpatch:slot" with a
//     space, a missing or extra word, or another //hotpatch: verb is
//     [ErrBadDirective].
//   - The slot name is two or more dotted identifiers, as
//     [github.com/hotpatch-go/hotpatch/registry.ValidName] requires
//     ([ErrBadSlotName]).
//   - The directive must be the last line of the doc comment of a top-level
//     function: on the line directly above "func", or below other doc lines
//     of the same comment block. A directive elsewhere — above a type, a
//     variable, a method, a function it is separated from by a blank line
//     or by further comment lines, inside a function body — is
//     [ErrNotFunc]. Only the last line may be the directive, so that one
//     glance above a function shows which slot it serves.
//   - The function must be an ordinary, non-generic, named function with a
//     body; init and the blank name _ cannot be referred to and are refused
//     ([ErrNotFunc]), type-parameterized functions are [ErrGenericFunc].
//   - Each slot is served by at most one function of the file
//     ([ErrDuplicateSlot]); a file needs at least one directive
//     ([ErrNoDirective]).
//   - The file is non-empty ([ErrEmpty]), UTF-8 ([ErrNotUTF8]), text
//     ([ErrBinary], a NUL byte) and valid Go syntax ([ErrSyntax]).
//
// Whether a slot exists depends on the running program; [Source.CheckSlots]
// checks the names with a lookup the loader gives it (a loader's lookup
// returns hotswap.ErrUnknownSlot, the one unknown-slot error of every kind). Whether the function's
// type matches the slot's is for the kind's loader to check, since only it
// can see the compiled or interpreted type.
//
// # Errors
//
// Every error about the source is an [*Error] (or several, joined with
// [errors.Join], in source order) whose message starts with file:line:col,
// the form editors and terminals turn into links. Each wraps one of the
// sentinel errors above, so callers test with [errors.Is] and locate with
// [errors.As].
//
// # Patch IDs
//
// [PatchID] derives a patch's ID from the file's base name and a hash of its
// bytes, so the same bytes always give the same ID and a changed file a new
// one; a loader for any kind should use it.
package loader
