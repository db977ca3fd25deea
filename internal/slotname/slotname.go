// Package slotname holds the rule for slot names, shared by the registry
// (which refuses a bad name at Register) and the directive parser (which
// refuses it in a patch source), so that the parser, and the build
// commands that use it, need not link the registry.
package slotname

// Valid reports whether name is a well-formed slot name: two or more
// identifiers ([A-Za-z_][A-Za-z0-9_]*) joined by dots.
func Valid(name string) bool {
	parts, start := 0, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if start {
				return false
			}
			parts++
			start = true
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			start = false
		case '0' <= c && c <= '9':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return !start && parts >= 1
}
