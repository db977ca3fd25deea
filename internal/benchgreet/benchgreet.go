// Package benchgreet is the workload the benchmarks of the script loader
// and the benchmark report share: a Greet function as a script and the
// same compiled, so that the two are measured doing the same work.
package benchgreet

import (
	"fmt"
	"strconv"
	"strings"
)

// Script is a 50-line script of the usual kind: imports, package state,
// helpers and the slot's func (example.Greet, a func(string) string);
// Compiled is the same, compiled.
const Script = `package patch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var greetings = map[string]string{
	"en": "hello",
	"fr": "bonjour",
	"de": "hallo",
	"es": "hola",
}
var started = time.Now()

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func split(name string) (lang, who string) {
	if i := strings.IndexByte(name, ':'); i > 0 {
		return name[:i], name[i+1:]
	}
	return "en", name
}

func count(name string) string {
	n := 0
	for _, r := range name {
		if r != ' ' {
			n++
		}
	}
	return strconv.Itoa(n)
}

//hotpatch:slot example.Greet
func Greet(name string) string {
	lang, who := split(name)
	g, ok := greetings[lang]
	if !ok {
		g = greetings["en"]
	}
	return fmt.Sprintf("%s, %s (%s letters)", capitalize(g), capitalize(who), count(who))
}
`

// Compiled is Script's Greet, compiled.
func Compiled(name string) string {
	lang, who := greetSplit(name)
	g, ok := greetings[lang]
	if !ok {
		g = greetings["en"]
	}
	return fmt.Sprintf("%s, %s (%s letters)", greetCapitalize(g), greetCapitalize(who), greetCount(who))
}

var greetings = map[string]string{"en": "hello", "fr": "bonjour", "de": "hallo", "es": "hola"}

func greetCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func greetSplit(name string) (lang, who string) {
	if i := strings.IndexByte(name, ':'); i > 0 {
		return name[:i], name[i+1:]
	}
	return "en", name
}

func greetCount(name string) string {
	n := 0
	for _, r := range name {
		if r != ' ' {
			n++
		}
	}
	return strconv.Itoa(n)
}
