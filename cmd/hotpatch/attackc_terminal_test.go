package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/admin/api"
)

func TestTerminalSafe(t *testing.T) {
	for _, tt := range []struct{ in, cell, text string }{
		{"greet@2", "greet@2", "greet@2"},
		{"héllo, 世界", "héllo, 世界", "héllo, 世界"},
		{"x\n\xff\x1b[31mred.go", `x\n\xff\x1b[31mred.go`, "x\n" + `\xff\x1b[31mred.go`},
		{"a\tb\r\x7f\u009b2J", `a\tb\r\x7f\u009b2J`, "a\tb" + `\r\x7f\u009b2J`},
		{"evil\u202egp.og", `evil\u202egp.og`, `evil\u202egp.og`},
		{"\ufffd kept", "\ufffd kept", "\ufffd kept"},
	} {
		if got := cell(tt.in); got != tt.cell {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.cell)
		}
		if got := text(tt.in); got != tt.text {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
}

// TestStatusEscapesHostileText: a patch ID is the name of a file in the
// server's patch directory, so anyone who may write there chooses it; an
// escape sequence in it reached the operator's terminal raw from
// "hotpatch status" (and a newline broke the table).
func TestStatusEscapesHostileText(t *testing.T) {
	id := "x\n\xff\x1b[2J\x1b[31mred.go-655b28ba5da4"
	st := api.Status{
		Slots: []api.Slot{{Name: "example.Greet", Type: "func(string) string", PatchID: id, Kind: "script"}},
		Stack: []api.Patch{{ID: id, Kind: "script", Slots: []string{"example.Greet"}, Serving: []string{"example.Greet"}}},
	}
	var b bytes.Buffer
	printStatus(&b, st)
	out := b.String()
	if strings.ContainsAny(out, "\x1b\xff") || strings.Contains(out, "x\n") {
		t.Errorf("status printed raw control bytes:\n%q", out)
	}
	if !strings.Contains(out, `x\n\xff\x1b[2J\x1b[31mred.go-655b28ba5da4`) {
		t.Errorf("status does not show the escaped ID:\n%s", out)
	}
	what := eventWhat(api.Event{Err: "load: x\x1b]0;owned\x07.go: bad"})
	if strings.ContainsAny(what, "\x1b\x07") {
		t.Errorf("eventWhat = %q, with raw control bytes", what)
	}
}

// TestBundleWarnsOfAProcessWithoutSlots: an executable that records no
// slots (a stock go-plugin plugin, here this test binary) was bundled with
// "0 slot(s)" and exit 0, and only the host said why it is useless.
func TestBundleWarnsOfAProcessWithoutSlots(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	payload := filepath.Join(dir, "stock.proc")
	if err := os.WriteFile(payload, data, 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"bundle", "--unsigned", "-o", filepath.Join(dir, "stock.hpatch"), payload}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "lists no slots") || !strings.Contains(stdout.String(), "0 slot(s)") {
		t.Errorf("stdout %q, stderr %q: want the bundle and a warning that it lists no slots", stdout.String(), stderr.String())
	}
}
