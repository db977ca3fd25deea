// Command greetproc is the process payload of the bundle loader's tests:
// it serves example.Greet.
package main

import "github.com/hotpatch-go/hotpatch/loader/process/procplugin"

func main() {
	procplugin.Serve(map[string]any{"example.Greet": func(n string) string { return "proc " + n }})
}
