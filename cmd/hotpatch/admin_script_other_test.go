//go:build !linux

package main

import "github.com/rogpeppe/go-internal/testscript"

// scriptCmds: the operator's tour runs its server on Linux only.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(*testscript.TestScript, bool, []string){
		"adminserver": func(ts *testscript.TestScript, _ bool, _ []string) { ts.Fatalf("the tour's server runs on Linux only") },
	}
}
