package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/net/html"
)

// scrape returns the families of GET /metrics, parsed as Prometheus does.
func (s *testServer) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(s.mustGet("/metrics", http.StatusOK)))
	if err != nil {
		s.t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the series of family name whose labels
// include want, and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		labels := make(map[string]string)
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// TestObserveMetricsAndDebugPage drives the server through an apply, a refusal
// and a rollback, and reads them back from /metrics and /debug/hotpatch/.
func TestObserveMetricsAndDebugPage(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.write("greet.go", greetVersion(1))
	s.waitGreet("ada", "v1 hello, ada")
	s.write("bad.go", []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string, lang string) string { return name }\n"))
	s.write("price.go", []byte("package patch\n\nimport \"github.com/hotpatch-go/hotpatch/examples/httpserver/shop\"\n\n"+
		"//hotpatch:slot shop.Price\nfunc Price(b shop.Book, qty int) shop.Quote { var p []int; _ = p[qty]; return shop.Quote{} }\n"))
	s.waitFor("the price patch to apply", func() bool { return len(s.status().Stack) == 2 })
	for range 3 {
		s.mustGet("/price?isbn=9780441013593&qty=10", http.StatusInternalServerError)
	}
	// The rolled-back patch's interpreter is released in the background.
	s.waitFor("the rollback, the refusal and the retire to show in /metrics", func() bool {
		mfs := s.scrape()
		// The series exist at 0 from the start: wait for the counts.
		rolled, _ := value(mfs, "hotpatch_rollbacks_total", map[string]string{"kind": "script", "reason": "panic"})
		rejected, _ := value(mfs, "hotpatch_rejections_total", map[string]string{"kind": "script", "reason": "type_mismatch"})
		interps, _ := value(mfs, "hotpatch_script_interpreters", nil)
		return rolled > 0 && rejected > 0 && interps == 1
	})

	mfs := s.scrape()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hotpatch_applies_total", map[string]string{"kind": "script"}, 2},
		{"hotpatch_rollbacks_total", map[string]string{"kind": "script", "reason": "panic"}, 1},
		{"hotpatch_rejections_total", map[string]string{"kind": "script", "reason": "type_mismatch"}, 1},
		{"hotpatch_generation", nil, 3},
		{"hotpatch_stack_depth", nil, 1},
		{"hotpatch_slot_info", map[string]string{"slot": "example.Greet", "kind": "script"}, 1},
		{"hotpatch_slot_info", map[string]string{"slot": "shop.Price", "patch_id": "", "kind": "baseline"}, 1},
		{"hotpatch_slot_failures", map[string]string{"slot": "example.Greet"}, 0},
		{"hotpatch_script_interpreters", nil, 1},
	} {
		got, ok := value(mfs, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(mfs, "hotpatch_loader_memory_limit_bytes", map[string]string{"kind": "native"}); !ok {
		t.Error("no hotpatch_loader_memory_limit_bytes{kind=native}")
	}
	if len(mfs["hotpatch_slot_info"].GetMetric()) != 4 {
		t.Errorf("hotpatch_slot_info has %d series, want one per slot", len(mfs["hotpatch_slot_info"].GetMetric()))
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// The page and its JSON say the same.
	body := s.mustGet("/debug/hotpatch/", http.StatusOK)
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	st := s.status()
	var serving string
	for _, sl := range st.Slots {
		if sl.Name == "example.Greet" {
			serving = sl.Patch
		}
	}
	found := false
	for n := range doc.Descendants() {
		if n.Type == html.TextNode && n.Data == serving && serving != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("the page does not show %q serving example.Greet", serving)
	}
	var js struct {
		Generation uint64
		Slots      []struct{ Name, Patch, Kind string }
		Events     []struct{ Type, Err string }
	}
	if err := json.Unmarshal([]byte(s.mustGet("/debug/hotpatch/status.json", http.StatusOK)), &js); err != nil {
		t.Fatal(err)
	}
	if js.Generation != st.Generation || len(js.Slots) != 4 || len(js.Events) == 0 {
		t.Errorf("status.json = %+v", js)
	}
	s.mustGet("/debug/hotpatch/?format=json", http.StatusOK)
	s.checkProbation(doc)
}

// checkProbation checks the probation of TestObserveMetricsAndDebugPage's run in
// /metrics and on the page: the price patch rolled back with its evidence,
// the greeting on probation (its window is a minute; on a machine slow
// enough to pass it, committed instead), every apply timed.
func (s *testServer) checkProbation(doc *html.Node) {
	t := s.t
	t.Helper()
	mfs := s.scrape()
	if h := mfs["hotpatch_apply_duration_seconds"].GetMetric(); len(h) != 1 || h[0].GetHistogram().GetSampleCount() != 2 {
		t.Errorf("hotpatch_apply_duration_seconds = %v, want the 2 applies of kind script", h)
	}
	var js struct {
		Probation []struct {
			Patch, State    string
			Calls, Failures int64
		}
		Events []struct {
			Type, Patch string
			Probation   *struct {
				State    string
				Failures int64
			}
		}
	}
	if err := json.Unmarshal([]byte(s.mustGet("/debug/hotpatch/status.json", http.StatusOK)), &js); err != nil {
		t.Fatal(err)
	}
	rolled := false
	for _, e := range js.Events {
		if e.Type == "rolled-back" {
			rolled = e.Probation != nil && e.Probation.State == "rolled-back" && e.Probation.Failures == 3
		}
	}
	if !rolled {
		t.Errorf("status.json: no rolled-back event with the evidence of 3 failures: %+v", js.Events)
	}
	if len(js.Probation) != 1 {
		t.Fatalf("status.json probation = %+v, want the greeting's", js.Probation)
	}
	greet := js.Probation[0]
	// The state only goes from on-probation to committed: on probation in
	// the JSON means on probation in the scrape taken before it.
	switch greet.State {
	case "on-probation":
		if n, _ := value(mfs, "hotpatch_probation_patches", nil); n != 1 {
			t.Errorf("hotpatch_probation_patches = %v, want 1", n)
		}
		calls, ok := value(mfs, "hotpatch_probation_calls_total", map[string]string{"patch_id": greet.Patch, "kind": "script"})
		if !ok || calls < 1 {
			t.Errorf("hotpatch_probation_calls_total{patch_id=%q} = %v (found %v), want the greetings served", greet.Patch, calls, ok)
		}
		if f, ok := value(mfs, "hotpatch_probation_failures_total", map[string]string{"patch_id": greet.Patch}); !ok || f != 0 {
			t.Errorf("hotpatch_probation_failures_total{patch_id=%q} = %v (found %v), want 0", greet.Patch, f, ok)
		}
	case "committed":
		t.Logf("the greeting's window ended before the scrape: committed")
		s.waitFor("the commit to show in /metrics", func() bool {
			n, _ := value(s.scrape(), "hotpatch_commits_total", map[string]string{"kind": "script"})
			return n == 1
		})
	default:
		t.Errorf("the greeting's probation is %q", greet.State)
	}
	var pageRow, evidence bool
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "table" {
			for _, a := range n.Attr {
				pageRow = pageRow || a.Key == "id" && a.Val == "probation" && strings.Contains(textOf(n), greet.Patch)
			}
		}
		if n.Type == html.TextNode && strings.HasPrefix(n.Data, "evidence: 3 failures in ") {
			evidence = true
		}
	}
	if !pageRow || !evidence {
		t.Errorf("the page: greeting in the probation table %v, evidence of the rollback %v", pageRow, evidence)
	}
}

// textOf returns the text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}
