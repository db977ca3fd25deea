package debugpage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxShown bounds, in runes, each value from outside as the page shows it:
// a patch ID or an error text of megabytes, in each of the recent events,
// would make a page of hundreds. The JSON keeps values whole.
const maxShown = 1000

// shown returns s as the page shows it: each control or invisible format
// character (a bidi override that reverses what follows, a zero-width
// space that makes two IDs look alike, a terminal escape) written as a
// visible Go escape, so that the operator reads the string that runs; new
// lines and tabs kept; cut to maxShown runes with the full length said.
func shown(s string) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == maxShown {
			fmt.Fprintf(&b, "… (cut: %d bytes in all; the JSON has the whole)", len(s))
			return b.String()
		}
		n++
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x100 && unicode.Is(unicode.Cc, r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// shownList is shown for each of s, joined with commas.
func shownList(s []string) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = shown(v)
	}
	return shown(strings.Join(out, ", "))
}
