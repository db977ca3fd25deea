package hotpatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/patchdir"
	"github.com/hotpatch-go/hotpatch/registry"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartAndClose(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "created")
	rt, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt, "t.F", func() int { return 1 })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Start did not create the patch directory: %v", err)
	}
	if err := rt.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v, want ErrStarted", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "late", Kind: hotswap.KindManual, Impls: map[string]any{"t.F": func() int { return 2 }}}); !errors.Is(err, hotswap.ErrClosed) {
		t.Fatalf("Apply after Close: %v, want hotswap.ErrClosed", err)
	}
}

func TestStartAfterClose(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}
}

func TestRegisterBadInput(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if _, err := Register(rt, "t.F", 42); err == nil {
		t.Fatal("Register of a non-func: no error")
	}
	if _, err := Register(rt, "t.F", func() {}); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(rt, "t.F", func() {}); err == nil {
		t.Fatal("duplicate Register: no error")
	}
}

// Close returns when its context ends, even while a retire still drains,
// and a later Close waits for the rest.
func TestCloseBoundedByContext(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	MustRegister(rt, "t.F", func() int { return 1 })
	release := make(chan struct{})
	retiring := make(chan struct{})
	_, err = rt.Manager().Apply(context.Background(), hotswap.Patch{
		ID: "slow", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.F": func() int { return 2 }},
		Retire: func(ctx context.Context) error {
			close(retiring)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rt.Close(ctx) }()
	<-retiring
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context: %v, want context.Canceled", err)
	}
	close(release)
	if err := rt.Close(context.Background()); err != nil {
		t.Fatalf("Close after the retire ended: %v", err)
	}
}

func TestHandlerReportsAndRollsBack(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{Rollback: hotswap.RollbackPolicy{Failures: 2, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	events, cancel := rt.Manager().Subscribe(16)
	defer cancel()
	_, err = rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "bad", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.Greet": func(n string) string { return "hi " + n[:3] }}})
	if err != nil {
		t.Fatal(err)
	}
	h := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(greet.Load()(r.URL.Query().Get("n"))))
	}))
	get := func(n string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/?n="+n, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("ada"); code != 200 || body != "hi ada" {
		t.Fatalf("patched: %d %q", code, body)
	}
	for range 2 {
		if code, _ := get("x"); code != http.StatusInternalServerError {
			t.Fatalf("panicking patch answered %d, want 500", code)
		}
	}
	for e := range events {
		if e.Type == hotswap.EventRolledBack {
			if e.PatchID != "bad" {
				t.Fatalf("rolled back %q, want bad", e.PatchID)
			}
			break
		}
	}
	if code, body := get("x"); code != 200 || body != "hello, x" {
		t.Fatalf("after the rollback: %d %q, want the baseline", code, body)
	}
}

func TestHandlerLetsAbortThrough(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "t.H", func() {})
	h := rt.Handler("t.H", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
		if st := rt.Manager().Status(); st.Slots[0].Failures != 0 {
			t.Fatalf("an abort was counted as a failure: %+v", st.Slots[0])
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestStatusHandler(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "t.A", func() int { return 1 })
	MustRegister(rt, "t.B", func() int { return 1 })
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "p1", Kind: hotswap.KindManual, Source: "test",
		Impls: map[string]any{"t.B": func() int { return 2 }}}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rt.StatusHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var st statusJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	if st.Generation != 1 || len(st.Slots) != 2 || st.Slots[0].Patch != "" || st.Slots[1].Patch != "p1" ||
		len(st.Stack) != 1 || st.Stack[0].ID != "p1" || len(st.Events) != 1 || st.Events[0].Type != "applied" {
		t.Fatalf("status: %s", rec.Body)
	}
}

// TestHandlerCountsScriptPanicOnce: a script patch that panics behind the
// Handler is counted once per panic: the script loader reports it, and the
// middleware does not report it again.
func TestHandlerCountsScriptPanicOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt, err := New(Options{Dir: dir, Rollback: hotswap.RollbackPolicy{Failures: 100, Window: time.Hour},
		Watch: patchdir.Options{Debounce: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	greet := MustRegister(rt, "t.Greet", func(n string) string { return "hello, " + n })
	events, cancel := rt.Manager().Subscribe(16)
	defer cancel()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := "package patch\n\n//hotpatch:slot t.Greet\nfunc Greet(n string) string { return \"hi \" + n[:3] }\n"
	place(t, dir, "greet.go", []byte(src))
	for e := range events {
		if e.Type == hotswap.EventApplied {
			break
		}
		if e.Type == hotswap.EventRejected {
			t.Fatalf("rejected: %v", e.Err)
		}
	}
	h := rt.Handler("t.Greet", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(greet.Load()(r.URL.Query().Get("n"))))
	}))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/?n=x", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("panicking script answered %d, want 500", rec.Code)
		}
	}
	if st := rt.Manager().Status(); st.Slots[0].Failures != 3 {
		t.Fatalf("3 panics counted as %d failures, want 3", st.Slots[0].Failures)
	}
}

// A handler wrapped before its slot is registered finds the slot on a later
// request and still counts the serving patch's failures.
func TestHandlerBeforeRegister(t *testing.T) {
	t.Parallel()
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	var f *registry.Func[func() int]
	h := rt.Handler("t.Late", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { f.Load()() }))
	f = MustRegister(rt, "t.Late", func() int { return 1 })
	if _, err := rt.Manager().Apply(context.Background(), hotswap.Patch{ID: "late", Kind: hotswap.KindManual,
		Impls: map[string]any{"t.Late": func() int { panic("late patch") }}}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("panicking patch answered %d, want 500", rec.Code)
	}
	if st := rt.Manager().Status(); st.Slots[0].Failures != 1 || st.Slots[0].PatchID != "late" {
		t.Fatalf("slot status %+v, want 1 failure against patch late", st.Slots[0])
	}
}

// place puts a file into a watched directory in one step (written beside
// it, then renamed in), so a short debounce on a loaded machine never sees
// it half written.
func place(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
