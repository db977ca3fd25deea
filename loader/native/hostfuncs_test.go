//go:build linux && cgo

package native

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestHostFuncs finds functions of this test binary by name, at the
// addresses the runtime knows them by.
func TestHostFuncs(t *testing.T) {
	var h hostFuncs
	for _, f := range []any{nativeRedirect, funcAt, strings.ToUpper} {
		pc := reflect.ValueOf(f).Pointer()
		name := runtime.FuncForPC(pc).Name()
		got, err := h.lookup(name)
		if err != nil || got != pc {
			t.Errorf("lookup(%s) = %#x, %v; want %#x", name, got, err, pc)
		}
	}
	if _, err := h.lookup("example.com/nowhere.F"); err == nil || !strings.Contains(err.Error(), "no function") {
		t.Errorf("lookup of a missing function: %v", err)
	}
}

// TestFuncAt builds a func value from an entry address and calls it.
func TestFuncAt(t *testing.T) {
	pc := reflect.ValueOf(strings.ToUpper).Pointer()
	f := funcAt(reflect.TypeFor[func(string) string](), pc).(func(string) string)
	if got := f("abc"); got != "ABC" {
		t.Fatalf("f = %q", got)
	}
	if reflect.ValueOf(f).Pointer() != pc {
		t.Fatal("entry differs")
	}
}
