package hookframe

import "testing"

//go:noinline
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

//go:noinline
func run2(f func()) { f() }

var run2Entry = Entry(run2)

func TestWhich(t *testing.T) {
	if got := Which(runEntry, run2Entry); got != 0 {
		t.Errorf("Which outside both: %b", got)
	}
	var one, both uint64
	run2(func() {
		one = Which(runEntry, run2Entry)
		run(func() { both = Which(runEntry, run2Entry) })
	})
	if one != 0b10 || both != 0b11 {
		t.Errorf("Which inside run2: %b, want 10; inside both: %b, want 11", one, both)
	}
}
