package native

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// sneakyErr is a panic value whose Error method panics with a value whose
// Error method panics again: fmt, which recovers a panicking Error method
// once, panics on the second.
type sneakyErr struct{ depth int }

func (e sneakyErr) Error() string { panic(sneakyErr{e.depth + 1}) }

// TestAttackReporterSneakyValue: a report func never panics, whatever the
// value's methods do: a panic inside it would replace the patch's panic
// value with its own on the way up (it runs in the wrapper's deferred
// recover) and lose the report. The failure is still reported, holding
// the very value.
func TestAttackReporterSneakyValue(t *testing.T) {
	t.Parallel()
	h := &recHost{}
	rep := newReporter(h, "p-1", manifest.Manifest{Slots: []manifest.Slot{{Name: "example.A"}}})
	for _, report := range []func(string, any){rep.slot, rep.redirect} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("the report func panicked with %#v", v)
				}
			}()
			report("example.A", sneakyErr{})
		}()
	}
	if len(h.reports) != 2 {
		t.Fatalf("%d reports, want 2", len(h.reports))
	}
	for i, err := range h.reports {
		var pe *hotswap.PanicError
		if !errors.As(err, &pe) || pe.Value != (sneakyErr{}) || !strings.Contains(err.Error(), "native p-1: ") ||
			!strings.Contains(err.Error(), "native_test") && !strings.Contains(err.Error(), "sneakyErr") {
			t.Errorf("report %d = %v, want a PanicError holding the value, naming its type", i, err)
		}
	}
}

// TestAttackSymbolPrefix: package paths as the linker writes them in
// symbol names, which the check for HotpatchWrap before opening looks for.
func TestAttackSymbolPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com/app/.hotpatch/build/greet_20261130T044240_4a35bac0": "example.com/app/.hotpatch/build/greet_20261130T044240_4a35bac0",
		"example.com/app/.hotpatch/build/greet.v2_1":                     "example.com/app/.hotpatch/build/greet%2ev2_1",
		"example.com/a b/%\"x":                                           "example.com/a%20b/%25%22x",
	} {
		if got := symbolPrefix(in); got != want {
			t.Errorf("symbolPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	if exports([]byte("not ELF"), "p", SymbolWrap) {
		t.Error("a file that is not ELF exports HotpatchWrap")
	}
}
