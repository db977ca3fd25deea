//go:build linux

package process

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/process/internal/fixture"
)

func TestLoadApplyCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.apply(t, "greet-v1.proc")
	if got, want := e.s.greet.Load()("bob"), "hello v1, bob"; got != want {
		t.Fatalf("Greet = %q, want %q", got, want)
	}
	st := e.mgr.Status()
	if len(st.Stack) != 1 || st.Stack[0].Kind != hotswap.KindProcess || st.Stack[0].ID != p.ID {
		t.Fatalf("stack = %+v", st.Stack)
	}
	if !e.l.Match("x/y/greet.proc") || e.l.Match("greet.go") || e.l.Kind() != hotswap.KindProcess {
		t.Fatal("Match or Kind wrong")
	}
}

func TestPatchIDFromNameAndContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	a, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-a.proc"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-a.proc"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.l.Load(context.Background(), e.mgr, fixtureAs(t, "greet-b.proc"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.ID == c.ID {
		t.Fatalf("IDs %q %q %q: want the same name and content to give the same ID, another name another", a.ID, b.ID, c.ID)
	}
	for _, p := range []hotswap.Patch{a, b, c} {
		if err := p.Retire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")

	t.Run("struct", func(t *testing.T) {
		s := "maybe"
		in := fixture.Input{
			Name:   "n",
			Points: []fixture.Point{{X: 1, Y: 2}, {X: 3, Y: 4}},
			Tags:   map[string]int{"b": 2, "a": 1},
			Origin: &fixture.Point{X: -5, Y: 6},
			When:   time.Date(2024, 2, 29, 12, 0, 0, 7, time.UTC),
			Scale:  2.5,
			Raw:    []byte{0, 1, 2},
			Nested: [][]string{{"x"}, nil, {}},
			Maybe:  &s,
			Flags:  [3]bool{true, false, true},
			Kind:   -40,
		}
		out, err := e.s.stats.Load()(in)
		if err != nil {
			t.Fatal(err)
		}
		want := fixture.Output{
			Count: 2, SumX: 4, Keys: []string{"a", "b"}, Origin: fixture.Point{X: -5, Y: 6},
			Later: in.When.Add(time.Hour), Echo: in,
			Ptrs: map[string]*fixture.Point{"nil": nil, "origin": {X: -5, Y: 6}},
		}
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("Stats =\n%+v\nwant\n%+v", out, want)
		}
		zero, err := e.s.stats.Load()(fixture.Input{})
		if err != nil {
			t.Fatal(err)
		}
		if zero.Echo.Points != nil || zero.Echo.Tags != nil || zero.Echo.Raw != nil || zero.Echo.Origin != nil {
			t.Fatalf("nil slices, maps and pointers came back non-nil: %+v", zero.Echo)
		}
	})
	t.Run("error result", func(t *testing.T) {
		q, err := e.s.div.Load()(7, 2)
		if q != 3 || err != nil {
			t.Fatalf("Div(7, 2) = %d, %v", q, err)
		}
		_, err = e.s.div.Load()(1, 0)
		if err == nil || err.Error() != "division by zero" {
			t.Fatalf("Div(1, 0) error = %v, want the plugin's message", err)
		}
		var ce *CallError
		if errors.As(err, &ce) {
			t.Fatal("the function's own error is not a CallError")
		}
	})
	t.Run("variadic and bytes", func(t *testing.T) {
		if got := e.s.variadic.Load()("p", 1, 2, 3); got != "p[1 2 3]" {
			t.Fatalf("Variadic = %q", got)
		}
		if got := e.s.variadic.Load()("p"); got != "p[]" {
			t.Fatalf("Variadic() = %q", got)
		}
		if got := e.s.echo.Load()(nil); got != nil {
			t.Fatalf("Echo(nil) = %#v", got)
		}
		if got := e.s.echo.Load()([]byte{}); got == nil || len(got) != 0 {
			t.Fatalf("Echo([]byte{}) = %#v", got)
		}
		big := []byte(strings.Repeat("x", 1<<20))
		if got := e.s.echo.Load()(big); len(got) != len(big) {
			t.Fatalf("Echo(1 MiB) = %d bytes", len(got))
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		left, ok := e.s.deadline.Load()(ctx)
		if !ok || left <= 3*time.Second || left > 5*time.Second {
			t.Fatalf("plugin saw deadline %v, %v; want about 5s", left, ok)
		}
		if _, ok := e.s.deadline.Load()(context.Background()); ok {
			t.Fatal("plugin saw a deadline where there is none")
		}
		if _, ok := e.s.deadline.Load()(nil); ok { //nolint:staticcheck // a nil context is tolerated
			t.Fatal("plugin saw a deadline for a nil context")
		}
	})
	t.Run("http handler", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.s.handler.Load()(w, r)
		}))
		defer srv.Close()
		req, _ := http.NewRequest("POST", srv.URL+"/some/path?q=42", strings.NewReader("payload"))
		req.Header.Set("X-Test", "yes")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		host := strings.TrimPrefix(srv.URL, "http://")
		if want := "v1 POST /some/path host=" + host + " q=42 h=yes body=payload"; string(body) != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Plugin") != "v1" ||
			!reflect.DeepEqual(resp.Header.Values("X-Multi"), []string{"a", "b"}) {
			t.Fatalf("status %d, header %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("http.HandlerFunc", func(t *testing.T) {
		srv := httptest.NewServer(e.s.handlerFunc.Load())
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "handlerfunc v1" || resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("http client gone", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", "/slow", nil)
		w := httptest.NewRecorder()
		start := time.Now()
		e.s.handlerFunc.Load()(w, req)
		if time.Since(start) > 30*time.Second || w.Code != http.StatusGatewayTimeout {
			t.Fatalf("got %d after %v; want 504 soon after the request's deadline", w.Code, time.Since(start))
		}
	})
}

func TestCancelReachesPlugin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var got string
	func() {
		defer func() {
			v := recover()
			ce, ok := v.(*CallError)
			if !ok || !errors.Is(ce, context.Canceled) {
				t.Fatalf("recovered %v, want a *CallError wrapping context.Canceled", v)
			}
		}()
		got = e.s.canceled.Load()(ctx, "c1")
	}()
	if got != "" || time.Since(start) > 30*time.Second {
		t.Fatalf("got %q after %v", got, time.Since(start))
	}
	if !e.s.wasCanceled.Load()("c1") {
		t.Fatal("the plugin's context was not canceled")
	}
	// A context with a deadline: the call returns the context's error.
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err := e.s.sleep.Load()(ctx, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep error = %v, want DeadlineExceeded", err)
	}
	// An already-done context does not reach the plugin.
	_, err = e.s.sleep.Load()(ctx, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep error = %v, want DeadlineExceeded", err)
	}
}

func TestHangEndsWithCallersDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Grace: 100 * time.Millisecond})
	e.apply(t, "greet-v1.proc")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.s.hang.Load()(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 30*time.Second {
		t.Fatalf("Hang = %v after %v", err, time.Since(start))
	}
	// The process still serves.
	if got := e.s.greet.Load()("x"); got != "hello v1, x" {
		t.Fatalf("Greet after a hung call = %q", got)
	}
}

func TestLogsReachHostLogger(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	p := e.apply(t, "logs-v1.proc")
	e.s.log.Load()("ping-from-test")
	eventually(t, 5*time.Second, "plugin logs", func() bool {
		logs := e.logs.String()
		return strings.Contains(logs, "plugin says") && strings.Contains(logs, "text=ping-from-test") &&
			strings.Contains(logs, "stdout: ping-from-test") && strings.Contains(logs, "structured before serve") &&
			strings.Contains(logs, "plain line before serve") && strings.Contains(logs, "hostile-ok")
	})
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "ping-from-test") && !strings.Contains(line, "patch="+p.ID) {
			t.Fatalf("log line without the patch ID: %s", line)
		}
	}
}
