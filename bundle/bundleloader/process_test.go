package bundleloader_test

import (
	"context"
	"os"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/process"
)

// TestProcessBundle: a process payload goes through the bundle checks,
// is written as a private executable, started by the process loader and
// serves; revert stops it, and the private file is gone.
func TestProcessBundle(t *testing.T) {
	f := newFixture(t, process.New(process.Options{}))
	exe, err := os.ReadFile(procBin)
	if err != nil {
		t.Fatal(err)
	}
	m := manifest(1)
	m.Kind, m.Payload.Name = "process", "greet.proc"
	if err := f.apply(f.write("proc", m, exe, key)); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "proc x" {
		t.Fatalf("serving %q", got)
	}
	if st := f.mgr.Status(); len(st.Stack) != 1 || st.Stack[0].ID != "greet-fix@1" || st.Stack[0].Kind != "process" {
		t.Errorf("stack %+v", st.Stack)
	}
	if entries, _ := os.ReadDir(f.priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries", len(entries))
	}
	if err := f.mgr.Revert(context.Background(), "greet-fix@1"); err != nil {
		t.Fatal(err)
	}
	if got := f.greet.Load()("x"); got != "hello x" {
		t.Errorf("after revert, serving %q", got)
	}
}
