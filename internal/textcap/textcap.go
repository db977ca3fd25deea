// Package textcap bounds text that comes from outside (an error message
// that quotes a file, a compiler's output) before a status view carries
// it, so that one event cannot make every status answer huge.
package textcap

import (
	"strconv"
	"unicode/utf8"
)

// ErrMax is the bound on an error's text in status views and the event
// history that the admin API and the debug page serve.
const ErrMax = 8 << 10

// Clip returns s if it is at most max bytes long, else its first max
// bytes, cut at a rune boundary, and a note of how many bytes were left
// out.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " … (" + strconv.Itoa(len(s)-cut) + " more bytes)"
}
