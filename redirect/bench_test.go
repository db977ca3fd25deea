package redirect

import "testing"

// The benchmarks redirect in the test process itself (a benchmark cannot
// run in a child); the child tests exercise the same paths first.

//go:noinline
func benchTarget(a, b int) int { return a*b + 1 }

//go:noinline
func benchRedirected(a, b int) int { return a*b + 1 }

//go:noinline
func benchReplacement(a, b int) int { return a*b + 1 }

var benchSink int

// BenchmarkRedirect measures Redirect followed by Restore of one target:
// two parked stores, two mprotect pairs.
func BenchmarkRedirect(b *testing.B) {
	if !redirectSupported() {
		b.Skip("redirection not supported here")
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := Redirect(benchTarget, benchReplacement)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Restore(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallDirectNative is the baseline: a call to a function that is
// not redirected.
func BenchmarkCallDirectNative(b *testing.B) {
	b.ReportAllocs()
	s := 0
	for i := 0; b.Loop(); i++ {
		s += benchTarget(i, 3)
	}
	benchSink = s
}

// BenchmarkCallRedirected calls a redirected function whose replacement has
// the same body: the difference from BenchmarkCallDirectNative is the jump
// to the trampoline and the trampoline's indirect jump.
func BenchmarkCallRedirected(b *testing.B) {
	if !redirectSupported() {
		b.Skip("redirection not supported here")
	}
	r, err := Redirect(benchRedirected, benchReplacement)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Restore()
	b.ReportAllocs()
	s := 0
	for i := 0; b.Loop(); i++ {
		s += benchRedirected(i, 3)
	}
	benchSink = s
}
