package hotswap_test

import (
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
)

// sneaky panics in Error with a value that panics in Error again.
type sneaky struct{ depth int }

func (s sneaky) Error() string { panic(sneaky{s.depth + 1}) }

// TestPanicErrorTextNeverPanics: the text of a *PanicError is safe to log
// whatever the panic value does.
func TestPanicErrorTextNeverPanics(t *testing.T) {
	err := &hotswap.PanicError{Value: sneaky{}}
	if got := err.Error(); !strings.Contains(got, "hotswap_test.sneaky") {
		t.Fatalf("Error() = %q, want the value's type named", got)
	}
}
