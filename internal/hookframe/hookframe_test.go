package hookframe

import "testing"

//go:noinline
func run(f func()) { f() }

var runEntry = Entry(run)

func TestOnStack(t *testing.T) {
	if OnStack(runEntry) {
		t.Error("OnStack outside run")
	}
	var inside, deeper, other bool
	run(func() {
		inside = OnStack(runEntry)
		func() { deeper = OnStack(runEntry) }()
		done := make(chan bool)
		go func() { done <- OnStack(runEntry) }()
		other = <-done
	})
	if !inside || !deeper {
		t.Errorf("OnStack inside run: %v, one call deeper: %v; want true", inside, deeper)
	}
	if other {
		t.Error("a goroutine started inside run counts as inside it")
	}
}
