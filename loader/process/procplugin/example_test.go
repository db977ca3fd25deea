package procplugin_test

import "github.com/hotpatch-go/hotpatch/loader/process/procplugin"

// Greet is the function a plugin serves.
func Greet(name string) string { return "hello again, " + name }

// A plugin's main serves its functions and returns when the host stops it.
func ExampleServe() {
	procplugin.Serve(map[string]any{"example.Greet": Greet})
}
