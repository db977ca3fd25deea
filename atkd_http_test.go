package hotpatch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestHandlerWrappedTwice: a slot's handler wrapped twice in Handler (a
// router that wraps every route, and the route's own wrap) counts each
// request once and each failure once, as the docs say ("each failure
// counts once"): the inner wrap counted the panic, and the outer one then
// saw the 500 the inner wrote and counted it again, with two calls per
// request, so a Failures threshold of 4 rolled the patch back after 2
// failed requests.
func TestHandlerWrappedTwice(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	inner := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/5xx":
			w.WriteHeader(http.StatusBadGateway)
		case "/late":
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(greet.Load()("x")))
		default:
			_, _ = w.Write([]byte(greet.Load()("x")))
		}
	}))
	h := rt.Handler("t.Greet", inner)
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "bad",
		Impls: map[string]any{"t.Greet": func(string) string { panic("bad patch") }}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/panic", "/5xx", "/panic"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code < 500 {
			t.Fatalf("%s: status %d, want a 5xx", path, rec.Code)
		}
	}
	// A panic after the response began is cut with http.ErrAbortHandler,
	// and still counts once.
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("a panic after the headers went up as %v, want http.ErrAbortHandler", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/late", nil))
	}()
	pr := rt.Manager().Status().Stack[0].Probation
	if pr.Calls != 4 || pr.Failures != 4 {
		t.Fatalf("4 failed requests through a handler wrapped twice: calls %d, failures %d; want 4 and 4", pr.Calls, pr.Failures)
	}
}

// TestGuardInsideHandler: a handler wrapped by Handler that runs its slot
// through Manager.Guard (two feeders of one slot, one inside the other)
// counts each request and its failure once: Guard counted the error, and
// Handler then counted the 500 the handler answered for it, with two calls
// per request.
func TestGuardInsideHandler(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	charge := MustRegister(rt, "t.Charge", func(n int) error { return nil })
	h := rt.Handler("t.Charge", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := rt.Manager().Guard(r.Context(), "t.Charge", func() error { return charge.Load()(1) })
		if err != nil {
			http.Error(w, "charge failed", http.StatusBadGateway)
		}
	}))
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "bad",
		Impls: map[string]any{"t.Charge": func(int) error { return errors.New("card declined by a bug") }}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusBadGateway {
			t.Fatalf("status %d", rec.Code)
		}
	}
	pr := rt.Manager().Status().Stack[0].Probation
	if pr.Calls != 3 || pr.Failures != 3 {
		t.Fatalf("3 failed requests, the slot run by Guard inside Handler: calls %d, failures %d; want 3 and 3", pr.Calls, pr.Failures)
	}
}

// TestRecoveredInsideHandler: a handler's own recovery that reports with
// Manager.Recovered and answers 500, inside Handler, counts the failure
// once, as a ReportFailure there does: Recovered counted the panic, and
// Handler counted the 500 again.
func TestRecoveredInsideHandler(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	h := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				_ = rt.Manager().Recovered("t.Greet", v)
				http.Error(w, "sorry", http.StatusInternalServerError)
			}
		}()
		_, _ = w.Write([]byte(greet.Load()("x")))
	}))
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "bad",
		Impls: map[string]any{"t.Greet": func(string) string { panic("bad patch") }}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d", rec.Code)
		}
	}
	pr := rt.Manager().Status().Stack[0].Probation
	if pr.Calls != 3 || pr.Failures != 3 {
		t.Fatalf("3 failed requests, each recovered with Recovered inside Handler: calls %d, failures %d; want 3 and 3", pr.Calls, pr.Failures)
	}
	// A panic its loader reported (as a script's wrapper does) counts once
	// too: Recovered took the loader's report, and Handler, finding none,
	// counted the 500.
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "reported",
		Impls: map[string]any{"t.Greet": func(string) string {
			rt.Manager().ReportFailure("t.Greet", &hotswap.PanicError{Value: "reported by its loader"})
			panic("reported by its loader")
		}}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if pr := rt.Manager().Status().Stack[1].Probation; pr.Calls != 3 || pr.Failures != 3 {
		t.Fatalf("3 failed requests, a loader's report each, recovered with Recovered inside Handler: calls %d, failures %d; want 3 and 3", pr.Calls, pr.Failures)
	}
}
