package hotpatch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// waitEvent waits for the first event of typ about patch; the timeout only
// detects a hang.
func waitEvent(t *testing.T, ch <-chan hotswap.Event, typ hotswap.EventType, patch string) hotswap.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("events closed before %s of %s", typ, patch)
			}
			if e.Type == typ && e.PatchID == patch {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event of %s", typ, patch)
		}
	}
}

// TestHandlerRollsBackUnderLoad: a patch that panics on every request,
// served to 8 concurrent clients over HTTP, is rolled back automatically,
// and the requests that failed are at most the threshold plus one in
// flight per other client.
func TestHandlerRollsBackUnderLoad(t *testing.T) {
	t.Parallel()
	const threshold, clients = 5, 8
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: threshold, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	srv := httptest.NewServer(rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(greet.Load()("x")))
	})))
	defer srv.Close()
	events, cancel := rt.Manager().Subscribe(64)
	defer cancel()
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "bad",
		Impls: map[string]any{"t.Greet": func(string) string { panic("bad patch") }}}); err != nil {
		t.Fatal(err)
	}
	var failed, ok atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for greet.PatchID() == "bad" {
				resp, err := srv.Client().Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusInternalServerError:
					failed.Add(1)
				case http.StatusOK:
					ok.Add(1)
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	rb := waitEvent(t, events, hotswap.EventRolledBack, "bad")
	wg.Wait()
	if n := failed.Load(); n < threshold || n > threshold+clients-1 {
		t.Fatalf("%d requests failed on the bad patch, want between %d and %d", n, threshold, threshold+clients-1)
	}
	// The evidence is what was counted when the threshold was crossed;
	// requests that began before the rollback may fail after it.
	if rb.Probation == nil || rb.Probation.Failures < threshold || rb.Probation.Failures > failed.Load() || rb.Probation.Calls < threshold {
		t.Fatalf("evidence %+v, want between %d and the %d failed requests", rb.Probation, threshold, failed.Load())
	}
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the rollback: %d", resp.StatusCode)
	}
}

// TestHandlerRareFailuresCommitted: a patch that fails 1 % of its requests
// under a 5 % threshold is committed when its window ends.
func TestHandlerRareFailuresCommitted(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Ratio: 0.05, MinCalls: 20, Window: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	h := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(greet.Load()("x")))
	}))
	events, cancel := rt.Manager().Subscribe(64)
	defer cancel()
	var n atomic.Int64
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "rare",
		Impls: map[string]any{"t.Greet": func(s string) string {
			if n.Add(1)%100 == 0 {
				panic("one in a hundred")
			}
			return "hi, " + s
		}}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}
		})
	}
	c := waitEvent(t, events, hotswap.EventCommitted, "rare")
	close(stop)
	wg.Wait()
	if c.Probation == nil || c.Probation.Calls == 0 || c.Probation.Failures > c.Probation.Calls/100+1 {
		t.Fatalf("committed with evidence %+v", c.Probation)
	}
	if got := greet.PatchID(); got != "rare" {
		t.Fatalf("%q serves after the commit", got)
	}
}

// TestHandlerCounts5xx: a 5xx response is a failure of the patch that
// served it; 4xx and 2xx are not; the status the handler wrote goes out.
func TestHandlerCounts5xx(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	code := MustRegister(rt, "t.Code", func(c int) int { return c })
	h := rt.Handler("t.Code", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code.Load()(len(r.URL.Query().Get("c"))))
	}))
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p",
		Impls: map[string]any{"t.Code": func(c int) int { return []int{200, 404, 503, 500}[c] }}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 404, 503, 500} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/?c="+"xxx"[:i], nil))
		if rec.Code != want {
			t.Fatalf("request %d answered %d, want %d", i, rec.Code, want)
		}
	}
	pr := rt.Manager().Status().Stack[0].Probation
	if pr == nil || pr.Calls != 4 || pr.Failures != 2 {
		t.Fatalf("probation %+v, want 4 calls and 2 failures (the 5xx)", pr)
	}
	// A panic after the status was written keeps that status, counts, and
	// cuts the response (http.ErrAbortHandler).
	h2 := rt.Handler("t.Code", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("after the header")
	}))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("a late panic went on up as %v, want http.ErrAbortHandler", v)
			}
		}()
		h2.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	}()
	if rec.Code != http.StatusAccepted {
		t.Fatalf("a late panic rewrote the status to %d", rec.Code)
	}
	if pr := rt.Manager().Status().Stack[0].Probation; pr.Failures != 3 {
		t.Fatalf("failures %d after a late panic, want 3", pr.Failures)
	}
}

// TestStatusHandlerProbation: a probation in progress shows in the JSON.
func TestStatusHandlerProbation(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Ratio: 0.5, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "t.A", func() int { return 1 })
	a, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p1", Impls: map[string]any{"t.A": func() int { return 2 }}})
	if err != nil {
		t.Fatal(err)
	}
	c := rt.Manager().Begin(context.Background(), "t.A")
	c.End(nil)
	rec := httptest.NewRecorder()
	rt.StatusHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var st statusJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	pr := st.Stack[0].Probation
	if pr == nil || pr.State != "on-probation" || pr.Calls != 1 || pr.Failures != 0 || !pr.Until.Equal(a.At.Add(time.Hour)) ||
		pr.Threshold.Failures != 3 || pr.Threshold.Ratio != 0.5 || pr.Threshold.MinCalls != hotswap.DefaultMinCalls || pr.Threshold.Window != "1h0m0s" {
		t.Fatalf("probation in status: %s", rec.Body)
	}
}
