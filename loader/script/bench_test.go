package script_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/benchgreet"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// BenchmarkScriptApply measures what a changed file costs before it serves:
// read, parse, check, evaluate in a fresh interpreter, and swap in, each
// version replacing the one before.
func BenchmarkScriptApply(b *testing.B) {
	if n := strings.Count(benchgreet.Script, "\n"); n != 50 {
		b.Fatalf("the script has %d lines, want 50", n)
	}
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", benchgreet.Compiled)
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
		if err := os.WriteFile(p, []byte(benchgreet.Script+strings.Repeat("\n", i)), 0o644); err != nil {
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

func BenchmarkScriptCall(b *testing.B) { benchScriptCall(b, script.Options{}) }

// BenchmarkScriptCallTimeout is BenchmarkScriptCall with Options.CallTimeout
// set: a timer per call.
func BenchmarkScriptCallTimeout(b *testing.B) {
	benchScriptCall(b, script.Options{CallTimeout: time.Minute})
}

func benchScriptCall(b *testing.B, opts script.Options) {
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", benchgreet.Compiled)
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(context.Background())
	path := filepath.Join(b.TempDir(), "greet.go")
	if err := os.WriteFile(path, []byte(benchgreet.Script), 0o644); err != nil {
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
	benchCall(b, registry.MustRegister(reg, "example.Greet", benchgreet.Compiled))
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
