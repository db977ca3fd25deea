// Package procplugin is the plugin side of process patches: the package a
// process patch's main imports. [Serve] serves the patch's functions to
// the host that started the executable:
//
//	import "github.com/hotpatch-go/hotpatch/loader/process/procplugin"
//
//	func main() {
//		procplugin.Serve(map[string]any{"example.Greet": Greet})
//	}
//
// `hotpatch patch build --kind process` generates such a main from a patch
// source with //hotpatch:slot directives. The host side, which loads,
// supervises and swaps these executables, is [github.com/hotpatch-go/hotpatch/loader/process.Loader]; the shapes
// that can cross, the failure rules and the platform notes are in its
// documentation.
//
// # Why a package of its own
//
// A process patch is a small program; it should link what it runs and no
// more. This package and what it imports (the call channel, the
// handshake, go-plugin's serving side) import nothing of the host: not
// the manager, the registry, the directory watch or the directive parser.
// A test (TestPluginSideDeps) lists the packages of a minimal patch and
// fails if one of the host's appears.
//
// The name says what the package is at the call site —
// procplugin.Serve: "serve as a process plugin" — without taking the
// name plugin (the standard library's and go-plugin's) or process (the
// host's loader, which a test or a tool may import beside it).
//
// # Lifecycle
//
// Serve returns when the host stops the plugin; the plugin's main then
// returns and the process exits. A plugin that is not started by a
// hotpatch host (its magic cookie is missing) says so on standard error
// and exits with status 1. From the moment the process starts (before
// main, in an init of this package) until Serve takes over, a host that
// dies takes the plugin, and what it has started, with it.
//
// # Platforms
//
// Linux carries everything: the plugin is a child subreaper and finds
// its descendants in /proc. Other Unix systems kill the process group
// only. Windows compiles; it is untested.
package procplugin
