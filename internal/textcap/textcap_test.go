package textcap

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Clip("short", 10); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := Clip(long, 51)
	if !utf8.ValidString(got) || !strings.HasPrefix(got, strings.Repeat("é", 25)+" … (150 more bytes)") {
		t.Errorf("Clip(long, 51) = %q", got)
	}
}
