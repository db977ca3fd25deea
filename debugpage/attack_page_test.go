package debugpage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"golang.org/x/net/html"

	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// spoofManager has a patch whose ID, source and note carry bidi and
// invisible characters: "good\u202egnp.exe" reads "goodexe.png" on a page
// that shows it raw, and a zero-width space makes two IDs look alike.
func spoofManager(t *testing.T) *hotswap.Manager {
	t.Helper()
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(s string) string { return s })
	m, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "good\u202egnp.exe", Source: "p\u200b1.go\x1b[31m",
		Impls: map[string]any{"example.Greet": func(s string) string { return s }}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(hotswap.Event{Type: hotswap.EventWarning, Note: "fine\u2067\xff", Err: errors.New("line1\nline2 \u2066bad")}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAttackBidiShown: the page shows bidi controls and invisible
// characters from outside as visible escapes, so an operator reads the ID
// that runs; the JSON keeps the strings as they are.
func TestAttackBidiShown(t *testing.T) {
	m := spoofManager(t)
	h := debugpage.Handler(m)
	resp := get(t, h, "/debug/hotpatch/")
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.TextNode {
			continue
		}
		for _, r := range n.Data {
			if r != '\n' && r != '\t' && (unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Cc, r)) {
				t.Errorf("the page shows %U raw in %q", r, n.Data)
			}
		}
	}
	if got := rows(t, doc, "slots")[0][2]; got != `good\u202egnp.exe` {
		t.Errorf("slots: serving %q, want the RLO shown as \\u202e", got)
	}
	if got := rows(t, doc, "stack")[0][3]; got != `p\u200b1.go\x1b[31m` {
		t.Errorf("stack: source %q, want the invisible characters shown", got)
	}
	if got := rows(t, doc, "events")[0][7]; !strings.HasPrefix(got, `fine\u2067\xff`) {
		t.Errorf("events: note %q, want the isolate and the byte that is not UTF-8 shown", got)
	}
	var v struct{ Slots []struct{ Patch string } }
	if err := json.NewDecoder(get(t, h, "/debug/hotpatch/status.json").Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.Slots[0].Patch != "good\u202egnp.exe" {
		t.Errorf("JSON patch %q, want it as it is", v.Slots[0].Patch)
	}
}

// TestAttackLongValues: values of 64 KiB in many events do not make a page
// of megabytes: the page cuts long values (JSON keeps them whole).
func TestAttackLongValues(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(s string) string { return s })
	m, err := hotswap.New(reg, hotswap.Options{HistorySize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	long := strings.Repeat("x", 64<<10)
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p" + long, Source: long,
		Impls: map[string]any{"example.Greet": func(s string) string { return s }}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		if err := m.Record(hotswap.Event{Type: hotswap.EventWarning, PatchID: fmt.Sprint(i), Note: long, Err: errors.New(long)}); err != nil {
			t.Fatal(err)
		}
	}
	resp := get(t, debugpage.Handler(m), "/debug/hotpatch/")
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 2<<20 {
		t.Errorf("the page is %d bytes: long values are not cut", len(body))
	}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	ev := rows(t, doc, "events")
	if len(ev) != 100 || ev[0][3] != "9999" {
		t.Errorf("events: %d rows, newest %q; want 100, newest 9999", len(ev), ev[0][3])
	}
	if got := rows(t, doc, "slots")[0][2]; !strings.HasPrefix(got, "pxxx") || !strings.Contains(got, "…") {
		t.Errorf("slots: serving %.40q…, want the ID cut with an ellipsis", got)
	}
}

// TestAttackMounts: the page's link to its JSON works wherever it is
// mounted, as net/http/pprof users mount it: the pattern without its slash,
// StripPrefix with and without the slash, a sub-mux.
func TestAttackMounts(t *testing.T) {
	m := spoofManager(t)
	h := debugpage.Handler(m)
	sub := http.NewServeMux()
	sub.Handle("/hotpatch/", h)
	mux := http.NewServeMux()
	mux.Handle("/debug/hotpatch", h)
	mux.Handle("/a/", http.StripPrefix("/a", h))
	mux.Handle("/b/", http.StripPrefix("/b/", h))
	mux.Handle("/ops/", http.StripPrefix("/ops", sub))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, page := range []string{"/debug/hotpatch", "/a/", "/b/", "/b/x/y", "/ops/hotpatch/"} {
		resp, err := http.Get(srv.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, %v", page, resp.StatusCode, err)
		}
		var href string
		for n := range doc.Descendants() {
			if n.Type == html.ElementNode && n.Data == "a" {
				href = attr(n, "href")
			}
		}
		base, _ := url.Parse(srv.URL + page)
		ref, err := url.Parse(href)
		if err != nil {
			t.Fatalf("%s: link %q: %v", page, href, err)
		}
		target := base.ResolveReference(ref)
		jr, err := http.Get(target.String())
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Generation uint64 }
		err = json.NewDecoder(jr.Body).Decode(&v)
		jr.Body.Close()
		if jr.StatusCode != http.StatusOK || err != nil || v.Generation != 1 {
			t.Errorf("mounted at %s, the JSON link %q leads to %s: %d, %v", page, href, target.Path, jr.StatusCode, err)
		}
	}
	// status.json under StripPrefix with the slash: the path is "status.json".
	resp, err := http.Get(srv.URL + "/b/status.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/b/status.json under StripPrefix(\"/b/\"): Content-Type %q, want JSON", ct)
	}
}

// TestAttackConcurrent renders the page and the JSON while patches apply
// and revert (run with -race).
func TestAttackConcurrent(t *testing.T) {
	m := spoofManager(t)
	h := debugpage.Handler(m)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, target := range []string{"/debug/hotpatch/", "/debug/hotpatch/status.json"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
				if rec.Code != http.StatusOK {
					t.Errorf("%s: %d", target, rec.Code)
					return
				}
			}
		})
	}
	ctx := context.Background()
	for i := range 300 {
		id := fmt.Sprint("c", i)
		if _, err := m.Apply(ctx, hotswap.Patch{ID: id, Impls: map[string]any{"example.Greet": func(s string) string { return id }}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Revert(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// busyLoader is a loader whose Memory waits, as the native loader's does
// while a plugin's init functions run under its lock.
type busyLoader struct {
	memLoader
	release chan struct{}
}

func (l *busyLoader) Memory() (used, limit int64) {
	<-l.release
	return 1, 2
}

// TestAttackBusyLoader: the page does not wait for a busy loader; it says
// so in the loaders table.
func TestAttackBusyLoader(t *testing.T) {
	m := spoofManager(t)
	l := &busyLoader{memLoader: memLoader{kind: hotswap.KindNative}, release: make(chan struct{})}
	defer close(l.release)
	if err := m.Attach(l); err != nil {
		t.Fatal(err)
	}
	done := make(chan *http.Response, 1)
	go func() { done <- get(t, debugpage.Handler(m), "/debug/hotpatch/") }()
	var resp *http.Response
	select {
	case resp = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the page waits for a busy loader")
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(t, doc, "loaders"); len(got) != 1 || got[0][0] != "native" || !strings.Contains(got[0][1], "busy") {
		t.Errorf("loaders = %q, want native shown busy", got)
	}
}
