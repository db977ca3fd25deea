package callchan

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNewServerRefuses: a malformed map of implementations is refused
// with an error that names the slot and says why.
func TestNewServerRefuses(t *testing.T) {
	var nilFunc func()
	cases := []struct {
		name  string
		impls map[string]any
		is    error
		msg   string
	}{
		{"empty", map[string]any{}, ErrNoSlots, "serves no slots"},
		{"bad name", map[string]any{"Greet": func() {}}, ErrBadName, `slot "Greet"`},
		{"not a func", map[string]any{"a.B": 42}, nil, "int is not a non-nil func"},
		{"nil func", map[string]any{"a.B": nilFunc}, nil, "is not a non-nil func"},
		{"nil", map[string]any{"a.B": nil}, nil, "is not a non-nil func"},
		{"channel", map[string]any{"a.B": func(chan int) {}}, ErrUnsupportedType, `slot "a.B"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(context.Background(), tc.impls)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to say %q", err, tc.msg)
			}
		})
	}
}

// TestServerListenAfterClose: a closed server does not listen again.
func TestServerListenAfterClose(t *testing.T) {
	s, err := NewServer(context.Background(), map[string]any{"a.B": func() {}})
	if err != nil {
		t.Fatal(err)
	}
	path, err := s.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.Listen(""); err != nil || again != path {
		t.Fatalf("second Listen = %q, %v; want %q", again, err, path)
	}
	s.Close()
	if _, err := s.Listen(""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Listen after Close: %v, want ErrClosed", err)
	}
	if got := s.Slots(); len(got) != 1 || got[0].Name != "a.B" || got[0].Type != "func()" {
		t.Fatalf("Slots = %+v", got)
	}
}
