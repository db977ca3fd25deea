package main

import "regexp"

// withoutLines is src, a patch source, without its line directives.
func withoutLines(src []byte) []byte {
	return regexp.MustCompile(`(?m)^//line \S+\n|/\*line \S+\*/`).ReplaceAll(src, nil)
}
