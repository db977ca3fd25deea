package patch

import "strings"

// Greet greets louder.
//
//hotpatch:slot demo.Greet
func Greet(name string) string { return "patched, " + strings.ToUpper(name) }
