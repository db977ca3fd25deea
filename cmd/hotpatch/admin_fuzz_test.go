package main

import (
	"strings"
	"testing"
)

// FuzzReadEvents: the reader of the server's event stream, outside input
// for the CLI, never panics and hands on only events with data.
func FuzzReadEvents(f *testing.F) {
	f.Add(": hotpatch events\n\nevent: applied\ndata: {\"type\":\"applied\"}\n\nevent: end\ndata: {}\n\n")
	f.Add("data: a\ndata: b\n\n\n\nevent:\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = readEvents(strings.NewReader(s), func(ev sseEvent) error {
			if ev.data == "" {
				t.Fatalf("event %q without data", ev.name)
			}
			return nil
		})
	})
}
