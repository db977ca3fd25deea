package baseline

import "testing"

func TestTail(t *testing.T) {
	for _, tt := range []struct {
		writes []string
		want   string
	}{
		{nil, ""},
		{[]string{"ab"}, "ab"},
		{[]string{"ab", "cd"}, "abcd"},
		{[]string{"ab", "cde"}, "bcde"},
		{[]string{"abcdefg"}, "defg"},
		{[]string{"a", "b", "c", "d", "e"}, "bcde"},
	} {
		tl := &tail{max: 4}
		for _, w := range tt.writes {
			if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if got := tl.String(); got != tt.want {
			t.Errorf("writes %q: %q, want %q", tt.writes, got, tt.want)
		}
	}
}
