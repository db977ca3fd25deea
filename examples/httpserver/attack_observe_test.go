package main

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestAttackHostileFileName: a patch file whose name is not UTF-8 and
// carries a right-to-left override (any bytes make a Linux file name)
// serves, /metrics still scrapes and parses, and the page shows the
// override as an escape.
func TestAttackHostileFileName(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.write("g\xff\u202eog.go", greetVersion(7))
	s.waitGreet("ada", "v7 hello, ada")
	mfs := s.scrape()
	found := false
	for _, m := range mfs["hotpatch_slot_info"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "patch_id" && strings.HasPrefix(l.GetValue(), "g\uFFFD\u202eog.go") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no hotpatch_slot_info series for the patch: %v", mfs["hotpatch_slot_info"])
	}
	doc, err := html.Parse(strings.NewReader(s.mustGet("/debug/hotpatch/", http.StatusOK)))
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for n := range doc.Descendants() {
		if n.Type == html.TextNode && strings.HasPrefix(n.Data, `g\xff\u202eog.go`) {
			shown = true
		}
	}
	if !shown {
		t.Error(`the page does not show the patch ID as g\xff\u202eog.go…`)
	}
}
