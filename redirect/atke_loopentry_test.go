//go:build linux && (amd64 || arm64)

package redirect

import (
	"errors"
	"os"
	"strconv"
	"testing"
)

type listNode struct {
	v    int
	next *listNode
}

// sumList is a frameless leaf whose body is a loop: the compiler starts it
// with a jump to the loop's condition at its end (JMP rel8 on amd64, B on
// arm64), a jump that stays inside the function.
//
//go:noinline
func sumList(p *listNode, s int) int {
	for p != nil {
		s += p.v
		p = p.next
	}
	return s
}

//go:noinline
func replSumList(p *listNode, s int) int {
	for p != nil {
		s += p.v
		p = p.next
	}
	return -s
}

// countDown starts with the same kind of jump, followed by an instruction
// whose bytes put every jump window below address 0 in code loaded low.
//
//go:noinline
func countDown(x int) int {
	for x > 100 {
		x -= 7
	}
	return x
}

func TestRedirectLoopEntry(t *testing.T) { runChild(t, "TestChildRedirectLoopEntry") }

// TestChildRedirectLoopEntry redirects functions whose compiled code
// starts with a jump of their own: they were refused as "already starts
// with a jump" (ErrEntryModified), which names a foreign patch that never
// happened. Now they are redirected, or refused for a true reason, while
// goroutines run inside their loops.
func TestChildRedirectLoopEntry(t *testing.T) {
	inChild(t)
	var list *listNode
	for i := 1; i <= 1000; i++ {
		list = &listNode{v: i, next: list}
	}
	const sum = 1000 * 1001 / 2

	r, err := Redirect(countDown, func(x int) int { return -x })
	switch {
	case err == nil:
		checkJump(t, r)
		if got := countDown(50); got != -50 {
			t.Errorf("countDown redirected: %d", got)
		}
		if err := r.Restore(); err != nil {
			t.Fatal(err)
		}
	case lowCode(countDown) && errors.Is(err, ErrNoRoomForJump):
		checkNoRoom(t, err)
		t.Logf("countDown refused in code loaded low, with the reason: %v", err)
	default:
		t.Errorf("Redirect(countDown) = %v", err)
	}
	if got := countDown(1000); got != 97 {
		t.Errorf("countDown restored: %d", got)
	}

	r, err = Redirect(sumList, replSumList)
	if err != nil {
		t.Fatalf("Redirect(sumList) = %v", err)
	}
	checkJump(t, r)
	if got := sumList(list, 1); got != -(sum + 1) {
		t.Errorf("redirected: %d", got)
	}
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	cycles := 2000
	if s := os.Getenv("HOTPATCH_NATIVE_CYCLES"); s != "" { // emulated: a quarter of the budget
		n, _ := strconv.Atoi(s)
		cycles = max(n/4, 1)
	}
	// Goroutines spend most of their time inside the loop, at its
	// instructions after the first, while the entry changes.
	hammer(t, cycles, sumList, replSumList, func(i int) (ok, redirected bool) {
		got := sumList(list, i)
		return got == sum+i || got == -(sum+i), got == -(sum+i) && sum+i != 0
	})
}
