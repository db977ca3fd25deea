package hotpatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// BenchmarkHandlerPatched is one request through Handler to a patched slot,
// with a recorder as the writer: the feeder's own cost.
func BenchmarkHandlerPatched(b *testing.B) {
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return n })
	h := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = greet.Load()("x") }))
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p",
		Impls: map[string]any{"t.Greet": func(n string) string { return n + "!" }}}); err != nil {
		b.Fatal(err)
	}
	w, r := httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
