package debugpage_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/net/html"

	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Hostile values: patch IDs, sources and errors come from outside.
const (
	hostileID     = `<script>alert("id")</script>'"&amp; 日本語 ✓ ` + "\u202e"
	hostileSource = `/tmp/"><img src=x onerror=alert(1)>/p<b>.go`
	hostileErr    = `</td></tr></table><script>alert('err')</script>`
	hostileType   = `committed<script>alert(1)</script>`
	// hostileIDShown is hostileID as the page shows it: the right-to-left
	// override written as a visible escape.
	hostileIDShown = `<script>alert("id")</script>'"&amp; 日本語 ✓ \u202e`
)

// hostileManager is a manager with a patch and events whose every string
// is an attack on the page.
func hostileManager(t *testing.T) *hotswap.Manager {
	t.Helper()
	return hostileManagerWith(t, hotswap.Options{})
}

// hostileManagerWith is hostileManager with options of its own.
func hostileManagerWith(t *testing.T, opts hotswap.Options) *hotswap.Manager {
	t.Helper()
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(s string) string { return s })
	registry.MustRegister(reg, "shop.Price", func(n int) int { return n })
	m, err := hotswap.New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := context.Background()
	if _, err := m.Apply(ctx, hotswap.Patch{ID: hostileID, Kind: hotswap.KindScript, Source: hostileSource,
		Impls: map[string]any{"example.Greet": func(s string) string { return "hi " + s }}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(hotswap.Event{Type: hotswap.EventWarning, PatchID: hostileID, Source: hostileSource, Err: errors.New(hostileErr)}); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(hotswap.Event{Type: hostileType, PatchID: hostileID, Note: "window ended clean"}); err != nil {
		t.Fatal(err)
	}
	return m
}

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Result()
}

func TestHTMLEscapes(t *testing.T) {
	m := hostileManager(t)
	resp := get(t, debugpage.Handler(m), "/debug/hotpatch/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q runs scripts", csp)
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing the values carried became markup.
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if n.Data == "script" || n.Data == "img" || n.Data == "b" && n.Parent.Data != "div" {
			t.Errorf("the page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has an %s attribute", n.Data, a.Key)
			}
		}
	}
	slots := rows(t, doc, "slots")
	if len(slots) != 2 {
		t.Fatalf("slots table has %d rows, want 2", len(slots))
	}
	want := [][]string{
		{"example.Greet", "func(string) string", hostileIDShown, "script", "1"},
		{"shop.Price", "func(int) int", "baseline", "baseline", "0"},
	}
	for i, w := range want {
		if got := slots[i][:5]; !slices.Equal(got, w) {
			t.Errorf("slots row %d = %q, want %q", i, got, w)
		}
	}
	stack := rows(t, doc, "stack")
	if len(stack) != 1 || stack[0][1] != hostileIDShown || stack[0][3] != hostileSource || stack[0][4] != "example.Greet" {
		t.Errorf("stack = %q", stack)
	}
	events := rows(t, doc, "events")
	if len(events) != 3 {
		t.Fatalf("events table has %d rows, want 3: %q", len(events), events)
	}
	// Newest first; an unknown type is shown as it is.
	if events[0][1] != hostileType || events[0][7] != "window ended clean" {
		t.Errorf("newest event row = %q", events[0])
	}
	if events[1][1] != "warning" || !strings.Contains(events[1][7], hostileErr) || events[1][5] != hostileSource {
		t.Errorf("warning row = %q", events[1])
	}
	if events[2][1] != "applied" || events[2][3] != hostileIDShown {
		t.Errorf("applied row = %q", events[2])
	}
	if got := rows(t, doc, "probation"); len(got) != 1 || got[0][0] != "no patch on probation (no rollback policy, or no patch applied)" {
		t.Errorf("probation = %q", got)
	}
}

func TestJSON(t *testing.T) {
	m := hostileManager(t)
	h := debugpage.Handler(m)
	for _, target := range []string{"/debug/hotpatch/status.json", "/debug/hotpatch/?format=json"} {
		resp := get(t, h, target)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", target, ct)
		}
		var v struct {
			Generation uint64
			Slots      []struct{ Name, Patch, Kind string }
			Stack      []struct {
				ID, Source string
				Serving    []string
			}
			Probation []any
			Events    []struct{ Type, Patch, Err string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if v.Generation != 1 || len(v.Slots) != 2 || v.Slots[0].Patch != hostileID || v.Slots[1].Kind != "baseline" {
			t.Errorf("%s: %+v", target, v)
		}
		if len(v.Stack) != 1 || v.Stack[0].Source != hostileSource || len(v.Stack[0].Serving) != 1 {
			t.Errorf("%s: stack %+v", target, v.Stack)
		}
		if v.Probation == nil {
			t.Errorf("%s: probation is null, want []", target)
		}
		if len(v.Events) != 3 || v.Events[0].Type != hostileType || v.Events[1].Err != hostileErr {
			t.Errorf("%s: events %+v", target, v.Events)
		}
	}
}

func TestMethods(t *testing.T) {
	m := hostileManager(t)
	h := debugpage.Handler(m)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/debug/hotpatch/", strings.NewReader("x")))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", method, rec.Code, rec.Header().Get("Allow"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/debug/hotpatch/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("HEAD: %d", rec.Code)
	}
}

// TestEmpty: a manager with nothing registered and no event.
func TestEmpty(t *testing.T) {
	m, err := hotswap.New(registry.New(), hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	resp := get(t, debugpage.Handler(m), "/debug/hotpatch/")
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"slots": "no slot registered", "stack": "empty: every slot serves its baseline",
		"events": "no event yet", "loaders": "no loader attached"} {
		if got := rows(t, doc, id); len(got) != 1 || got[0][0] != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
}

// rows returns the text of each cell of the body rows of the table with
// that id.
func rows(t *testing.T, doc *html.Node, id string) [][]string {
	t.Helper()
	var table *html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "table" && attr(n, "id") == id {
			table = n
		}
	}
	if table == nil {
		t.Fatalf("no table #%s", id)
	}
	var out [][]string
	for n := range table.Descendants() {
		if n.Type != html.ElementNode || n.Data != "tr" || n.Parent.Data != "tbody" {
			continue
		}
		var row []string
		for c := range n.ChildNodes() {
			if c.Type == html.ElementNode && c.Data == "td" {
				row = append(row, strings.TrimSpace(text(c)))
			}
		}
		out = append(out, row)
	}
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// memLoader is a loader that counts memory, as the native loader does.
type memLoader struct{ kind hotswap.Kind }

func (l memLoader) Kind() hotswap.Kind        { return l.kind }
func (memLoader) Match(string) bool           { return false }
func (memLoader) Close(context.Context) error { return nil }
func (memLoader) Memory() (used, limit int64) { return 3 << 20, 256 << 20 }
func (memLoader) Load(context.Context, hotswap.Host, string) (hotswap.Patch, error) {
	return hotswap.Patch{}, errors.New("not a loader of files")
}

type plainLoader struct{ memLoader }

func (plainLoader) Memory() {} // not the memory counter's signature

func TestLoaders(t *testing.T) {
	m := hostileManager(t)
	if err := m.Attach(memLoader{kind: hotswap.KindNative}); err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(plainLoader{memLoader{kind: "own<kind>"}}); err != nil {
		t.Fatal(err)
	}
	h := debugpage.Handler(m)
	doc, err := html.Parse(get(t, h, "/debug/hotpatch/").Body)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"native", "3.0 MiB", "256.0 MiB"}, {"own<kind>", "—", "—"}}
	if got := rows(t, doc, "loaders"); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("loaders = %q, want %q", got, want)
	}
	var v struct {
		Loaders []struct {
			Kind   string
			Memory *struct{ Used, Limit int64 }
		}
	}
	if err := json.NewDecoder(get(t, h, "/debug/hotpatch/status.json").Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Loaders) != 2 || v.Loaders[0].Memory == nil || v.Loaders[0].Memory.Used != 3<<20 || v.Loaders[1].Memory != nil {
		t.Errorf("loaders JSON = %+v", v.Loaders)
	}
}
