package process

import (
	"context"
	"testing"
)

func TestLoadApplyCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.apply(t, "greet-v1.proc")
	if got, want := e.s.greet.Load()("bob"), "hello v1, bob"; got != want {
		t.Fatalf("Greet = %q, want %q", got, want)
	}
	st := e.mgr.Status()
	if len(st.Stack) != 1 || st.Stack[0].Kind != "process" {
		t.Fatalf("stack = %+v", st.Stack)
	}
	_ = context.Background()
}
