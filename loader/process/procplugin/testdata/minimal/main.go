// Command minimal is the smallest process patch: one slot served with
// procplugin.Serve, as `hotpatch patch build --kind process` generates it.
// TestPluginSideDeps lists what it links.
package main

import "github.com/hotpatch-go/hotpatch/loader/process/procplugin"

func greet(name string) string { return "hello again, " + name }

func main() {
	procplugin.Serve(map[string]any{"example.Greet": greet})
}
