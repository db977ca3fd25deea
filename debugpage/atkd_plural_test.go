package debugpage_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestThresholdText: the page says a probation's thresholds and evidence
// as the manager's events do ("1 failure or 12.345% of at least 1 call"),
// in the singular for one: the probation table said "1 failures or
// 12.35 % of at least 1 calls" beside an event that said it otherwise.
func TestThresholdText(t *testing.T) {
	reg := registry.New()
	registry.MustRegister(reg, "t.A", func() error { return nil })
	pol := hotswap.RollbackPolicy{Failures: 1, Ratio: 0.12345, MinCalls: 1, Window: time.Hour}
	m, err := hotswap.New(reg, hotswap.Options{Rollback: pol})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	events, cancel := m.Subscribe(16)
	defer cancel()
	if _, err := m.Apply(context.Background(), hotswap.Patch{ID: "p", Impls: map[string]any{"t.A": func() error { return nil }}}); err != nil {
		t.Fatal(err)
	}
	page := func() string {
		rec := httptest.NewRecorder()
		debugpage.Handler(m).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/hotpatch/", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	want := "1 failure or 12.345% of at least 1 call within 1h0m0s"
	if body := page(); !strings.Contains(body, want) {
		t.Fatalf("the probation table does not say %q:\n%s", want, body)
	}
	feed(m, "t.A", 1, 1)
	waitEvent(t, events, hotswap.EventRolledBack, "p")
	body := page()
	for _, want := range []string{"evidence: 1 failure in 1 call, window ", "rollback at " + want} {
		if !strings.Contains(body, want) {
			t.Errorf("the rolled-back event does not say %q:\n%s", want, body)
		}
	}
}
