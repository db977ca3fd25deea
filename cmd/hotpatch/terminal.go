package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a server answers comes partly from outside: a patch's ID is the
// name of a file someone dropped into its patch directory, an error
// quotes a plugin's standard error. Printed raw, an escape sequence in
// them would recolour, move the cursor in or clear the operator's
// terminal, a newline or a tab would break a table, and a bidirectional
// override would show text in another order than it has. So the admin
// commands print such text through cell or text, which write control
// characters, bidirectional controls and bytes that are not UTF-8 as Go
// escapes (\x1b, \u202e, \xff). --json output is JSON, escaped already.

// cell renders server text for a table cell or a one-line field:
// newlines and tabs are escaped too.
func cell(s string) string { return terminalSafe(s, false) }

// text renders server text that may span lines (an error with the tail
// of a plugin's stderr): newlines and tabs are kept.
func text(s string) string { return terminalSafe(s, true) }

func terminalSafe(s string, lines bool) string {
	clean := func(r rune) bool {
		return r != utf8.RuneError && !unicode.IsControl(r) && !unicode.Is(unicode.Bidi_Control, r) ||
			lines && (r == '\n' || r == '\t')
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return !clean(r) }) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case clean(r) || r == utf8.RuneError: // U+FFFD written as such
			b.WriteString(s[:size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		s = s[size:]
	}
	return b.String()
}
