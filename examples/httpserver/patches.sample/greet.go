package patch

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Greet welcomes readers by name, capitalized, and strangers too.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Welcome to Inkwell Books, stranger!"
	}
	r, size := utf8.DecodeRuneInString(name)
	return "Welcome to Inkwell Books, " + string(unicode.ToUpper(r)) + name[size:] + "!"
}
