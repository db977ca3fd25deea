package slotname

import "testing"

func TestValid(t *testing.T) {
	for name, want := range map[string]bool{
		"example.Greet": true, "a.b.c": true, "_x.y9": true,
		"": false, "Greet": false, "a.": false, ".a": false, "a..b": false, "a.9b": false, "a.b-c": false, "ä.b": false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v", name, got, want)
		}
	}
}
