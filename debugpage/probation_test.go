package debugpage_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// hangAfter bounds the waits of these tests: a hang detector, not a
// timing assertion.
const hangAfter = 30 * time.Second

// badPriceID is the patch that fails its probation, hostile too.
const badPriceID = `price<b>"bad"</b>`

// feed runs n calls of slot through the manager's feeder API, the first
// failures of them failing.
func feed(m *hotswap.Manager, slot string, n, failures int) {
	for i := range n {
		c := m.Begin(context.Background(), slot)
		var err error
		if i < failures {
			err = errors.New("<script>alert('bad result')</script>")
		}
		c.End(err)
	}
}

// waitEvent waits for an event of type typ about patch id.
func waitEvent(t *testing.T, events <-chan hotswap.Event, typ hotswap.EventType, id string) {
	t.Helper()
	timeout := time.After(hangAfter)
	for {
		select {
		case e := <-events:
			if e.Type == typ && e.PatchID == id {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", typ, id)
		}
	}
}

// probationManager is hostileManager under a rollback policy of an hour:
// the hostile patch is on probation, with 7 calls and 2 failures fed
// through Begin and End; a second patch failed its probation (3 failures)
// and was rolled back.
func probationManager(t *testing.T) *hotswap.Manager {
	t.Helper()
	m := hostileManagerWith(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Ratio: 0.5, MinCalls: 100, Window: time.Hour}})
	feed(m, "example.Greet", 7, 2)
	events, cancel := m.Subscribe(64)
	defer cancel()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: badPriceID, Kind: hotswap.KindNative,
		Impls: map[string]any{"shop.Price": func(n int) int { return -n }}}); err != nil {
		t.Fatal(err)
	}
	feed(m, "shop.Price", 3, 3)
	waitEvent(t, events, hotswap.EventRolledBack, badPriceID)
	return m
}

// eventRow returns the newest row of the events table of that type.
func eventRow(t *testing.T, doc *html.Node, typ string) []string {
	t.Helper()
	for _, r := range rows(t, doc, "events") {
		if r[1] == typ {
			return r
		}
	}
	t.Fatalf("no %s row in the events table", typ)
	return nil
}

// checkProbationPage checks what the page shows of probationManager.
func checkProbationPage(t *testing.T, doc *html.Node) {
	t.Helper()
	pr := rows(t, doc, "probation")
	if len(pr) != 1 {
		t.Fatalf("probation table = %q, want one patch on probation", pr)
	}
	p := pr[0]
	if p[0] != hostileIDShown || p[1] != "script" || p[2] != "on-probation" || p[6] != "7" || p[7] != "2" {
		t.Errorf("probation row = %q", p)
	}
	if p[5] == "ended" || !strings.HasSuffix(p[5], "s") {
		t.Errorf("probation row: time left %q, want a duration", p[5])
	}
	if want := "3 failures or 50% of at least 100 calls within 1h0m0s"; p[8] != want {
		t.Errorf("probation row: rollback at %q, want %q", p[8], want)
	}
	slots := rows(t, doc, "slots")
	if got := slots[0][7]; !strings.HasPrefix(got, "on-probation: 2 failures in 7 calls, ") || !strings.HasSuffix(got, " left") {
		t.Errorf("slots: example.Greet probation %q", got)
	}
	if got := slots[1][7]; got != "—" {
		t.Errorf("slots: shop.Price (baseline again) probation %q, want —", got)
	}
	if ap := eventRow(t, doc, "applied"); !strings.HasPrefix(ap[7], "took ") {
		t.Errorf("applied row = %q, want how long the apply took", ap)
	}
	rb := eventRow(t, doc, "rolled-back")
	if rb[3] != badPriceID || !strings.Contains(rb[7], "patch failed its probation") ||
		!strings.Contains(rb[7], "evidence: 3 failures in 3 calls, window ") ||
		!strings.Contains(rb[7], "rollback at 3 failures or 50% of at least 100 calls within 1h0m0s") {
		t.Errorf("rolled-back row = %q", rb)
	}
}

// TestProbationPage: a patch on probation shows its state, time left,
// counts and thresholds in the probation table and in the slots table;
// the rolled-back event shows its evidence; every value is escaped.
func TestProbationPage(t *testing.T) {
	m := probationManager(t)
	h := debugpage.Handler(m)
	doc, err := html.Parse(get(t, h, "/debug/hotpatch/").Body)
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "b" && n.Parent.Data != "div") {
			t.Errorf("the page has a <%s> element", n.Data)
		}
	}
	checkProbationPage(t, doc)

	var v struct {
		Slots     []struct{ Name, Probation string }
		Probation []struct {
			Patch, Kind, State string
			Until              time.Time
			Left               time.Duration `json:"left_ns"`
			Calls, Failures    int64
			Threshold          struct {
				Failures int
				Ratio    float64
				MinCalls int           `json:"min_calls"`
				Window   time.Duration `json:"window_ns"`
			}
		}
		Events []struct {
			Type, Patch string
			Probation   *struct {
				State           string
				Calls, Failures int64
			}
		}
	}
	if err := json.NewDecoder(get(t, h, "/debug/hotpatch/status.json").Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Probation) != 1 {
		t.Fatalf("JSON probation = %+v, want one", v.Probation)
	}
	p := v.Probation[0]
	if p.Patch != hostileID || p.State != "on-probation" || p.Calls != 7 || p.Failures != 2 || p.Left <= 0 || p.Left > time.Hour ||
		p.Threshold.Failures != 3 || p.Threshold.Ratio != 0.5 || p.Threshold.MinCalls != 100 || p.Threshold.Window != time.Hour {
		t.Errorf("JSON probation = %+v", p)
	}
	found := false
	for _, e := range v.Events {
		if e.Type == "rolled-back" {
			found = e.Patch == badPriceID && e.Probation != nil && e.Probation.State == "rolled-back" && e.Probation.Failures == 3
		}
	}
	if !found {
		t.Errorf("JSON events: no rolled-back event with its evidence: %+v", v.Events)
	}
}

// TestCommittedPage: a patch whose window ended clean shows as committed,
// with its window ended and its counts since, and its committed event
// with the evidence as it was at the commit.
func TestCommittedPage(t *testing.T) {
	m := hostileManagerWith(t, hotswap.Options{Rollback: hotswap.RollbackPolicy{Failures: 3, Window: 20 * time.Millisecond}})
	events, cancel := m.Subscribe(64)
	defer cancel()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p2", Kind: hotswap.KindProcess,
		Impls: map[string]any{"shop.Price": func(n int) int { return -n }}}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, hotswap.EventCommitted, "p2")
	// Calls after the commit (so that a slow machine cannot end the short
	// window in their midst): counted, and shown, but they judge nothing.
	feed(m, "shop.Price", 4, 1)
	doc, err := html.Parse(get(t, debugpage.Handler(m), "/debug/hotpatch/").Body)
	if err != nil {
		t.Fatal(err)
	}
	var row []string
	for _, r := range rows(t, doc, "probation") {
		if r[0] == "p2" {
			row = r
		}
	}
	if row == nil || row[2] != "committed" || row[5] != "ended" || row[6] != "4" || row[7] != "1" {
		t.Errorf("probation row of p2 = %q", row)
	}
	if got := rows(t, doc, "slots")[1][7]; got != "committed: 1 failure in 4 calls" {
		t.Errorf("slots: shop.Price probation %q", got)
	}
	// The hostile patch of the fixture, on the same short window, may
	// commit too: look for p2's row.
	var c []string
	for _, r := range rows(t, doc, "events") {
		if r[1] == "committed" && r[3] == "p2" {
			c = r
		}
	}
	if c == nil || !strings.Contains(c[7], "ended clean") || !strings.Contains(c[7], "evidence: 0 failures in 0 calls") {
		t.Errorf("committed row of p2 = %q", c)
	}
}
