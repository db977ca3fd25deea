package script_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// benchScript is a 50-line script of the usual kind: a few imports,
// package state, helpers and the slot's func.
const benchScript = `package patch

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

// BenchmarkScriptApply measures what a changed file costs before it serves:
// read, parse, check, evaluate in a fresh interpreter, and swap in, each
// version replacing the one before.
func BenchmarkScriptApply(b *testing.B) {
	if n := strings.Count(benchScript, "\n"); n != 50 {
		b.Fatalf("the script has %d lines, want 50", n)
	}
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", compiledGreet)
	m, err := hotswap.New(reg, hotswap.Options{HistorySize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	l := script.New(script.Options{})
	dir := b.TempDir()
	// Two files that differ by one comment, so each apply is a new patch.
	paths := [2]string{filepath.Join(dir, "a.go"), filepath.Join(dir, "b.go")}
	for i, p := range paths {
		if err := os.WriteFile(p, []byte(benchScript+strings.Repeat("\n", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	prev := ""
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p, err := l.Load(ctx, m, paths[i%2])
		if err != nil {
			b.Fatal(err)
		}
		p.Replaces = prev
		if _, err := m.Apply(ctx, p); err != nil {
			b.Fatal(err)
		}
		prev = p.ID
		i++
	}
}

// compiledGreet is benchScript's Greet, compiled.
func compiledGreet(name string) string {
	lang, who := benchSplit(name)
	g, ok := benchGreetings[lang]
	if !ok {
		g = benchGreetings["en"]
	}
	return fmt.Sprintf("%s, %s (%s letters)", benchCapitalize(g), benchCapitalize(who), benchCount(who))
}

var benchGreetings = map[string]string{"en": "hello", "fr": "bonjour", "de": "hallo", "es": "hola"}

func benchCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func benchSplit(name string) (lang, who string) {
	if i := strings.IndexByte(name, ':'); i > 0 {
		return name[:i], name[i+1:]
	}
	return "en", name
}

func benchCount(name string) string {
	n := 0
	for _, r := range name {
		if r != ' ' {
			n++
		}
	}
	return strconv.Itoa(n)
}

func BenchmarkScriptCall(b *testing.B) { benchScriptCall(b, script.Options{}) }

// BenchmarkScriptCallTimeout is BenchmarkScriptCall with Options.CallTimeout
// set: a timer per call.
func BenchmarkScriptCallTimeout(b *testing.B) {
	benchScriptCall(b, script.Options{CallTimeout: time.Minute})
}

func benchScriptCall(b *testing.B, opts script.Options) {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", compiledGreet)
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	path := filepath.Join(b.TempDir(), "greet.go")
	if err := os.WriteFile(path, []byte(benchScript), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := script.New(opts).Load(context.Background(), m, path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Apply(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	benchCall(b, greet)
}

func BenchmarkCompiledCall(b *testing.B) {
	reg := registry.New()
	benchCall(b, registry.MustRegister(reg, "example.Greet", compiledGreet))
}

func benchCall(b *testing.B, greet *registry.Func[func(string) string]) {
	const want = "Bonjour, Ada lovelace (11 letters)"
	if got := greet.Load()("fr:ada lovelace"); got != want {
		b.Fatalf("Greet = %q, want %q", got, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		greet.Load()("fr:ada lovelace")
	}
}
