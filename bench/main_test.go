package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun runs the whole report once with a tiny benchmark time and checks
// that every row is there with figures, and that -o and -svg are written.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "bench.md"), filepath.Join(dir, "calls.svg")
	var stdout bytes.Buffer
	if err := run([]string{"-runs", "1", "-benchtime", "5x", "-o", md, "-svg", svg}, &stdout); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("with -o, stdout got %q, want nothing", stdout.String())
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{"go run ./bench -runs 1 -benchtime 5x", "GOMAXPROCS", "go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(out, bad) {
			t.Errorf("report contains %q:\n%s", bad, out)
		}
	}
	fx := &fixture{}
	for _, c := range fx.cases() {
		line := ""
		for l := range strings.Lines(out) {
			if strings.HasPrefix(l, "| "+c.name+" (") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("report has no row %q:\n%s", c.name, out)
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasSuffix(strings.TrimSpace(cells[2]), "s") {
			t.Errorf("row %q has no time: %q", c.name, line)
		}
		if c.base != "" && !strings.Contains(cells[5], "× "+c.base) {
			t.Errorf("row %q is not compared with %q: %q", c.name, c.base, line)
		}
	}

	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bars := 0
	for d := xml.NewDecoder(f); ; {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			bars++
		}
	}
	if bars != 4 {
		t.Errorf("the SVG has %d bars, want 4 (the call rows)", bars)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-runs", "0"}, "need at least 1 run"},
		{[]string{"-benchtime", "soon"}, `-benchtime "soon"`},
		{[]string{"extra"}, "bench takes only flags"},
		{[]string{"-runs", "1", "-benchtime", "1x", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x.md")}, "write -o"},
	} {
		err := run(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
