// The fixture odd.so is built from this file as a plugin author might
// write it: TestMain writes it out with a byte order mark, CRLF line
// endings and no newline at the end, and it uses cgo, a generic helper and
// a method. Lines marked "mark:" are looked up by the test.
package patch

/*
static int twice(int x) { return 2 * x; }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	h "github.com/hotpatch-go/hotpatch/loader/native/testdata/host"
)

// first is generic; slots are not, but a patch may declare such helpers.
func first[T any](xs []T) T { return xs[0] }

type greeter struct{ word string }

func (g greeter) greet(name string) string { return g.word + ", " + name }

// sneaky is a panic value whose Error method panics with a value whose
// Error method panics again.
type sneaky struct{ depth int }

func (s sneaky) Error() string { panic(sneaky{s.depth + 1}) }

// Greet serves example.Greet; the name chooses what it does.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	switch {
	case name == "caller":
		_, file, line, _ := runtime.Caller(0) // mark:caller
		return file + ":" + strconv.Itoa(line)
	case name == "panic":
		panic("odd panics") // mark:panic
	case name == "defer":
		defer func() {
			panic("odd panics in a deferred func") // mark:defer
		}()
		return "unreachable"
	case name == "sneaky":
		panic(sneaky{})
	case name == "cross":
		// Another slot of this patch, through the registry: its wrapper
		// reports, this one does not.
		return strconv.Itoa(h.Current.Load().Add.Load()(-1, 0))
	case strings.HasPrefix(name, "recurse"):
		n, _ := strconv.Atoi(strings.TrimPrefix(name, "recurse"))
		if n == 0 {
			panic("odd recursion bottom")
		}
		return h.Current.Load().Greet.Load()("recurse" + strconv.Itoa(n-1))
	}
	return greeter{"odd"}.greet(name)
}

// Add calls C, and a generic helper; it panics for a negative a.
//
//hotpatch:slot example.Add
func Add(a, b int) int {
	if a < 0 {
		panic(errors.New("odd Add of a negative"))
	}
	return int(C.twice(C.int(a))) + first([]int{b})
}

// SplitLast recovers its own panic in a deferred func that sets its named
// result: the wrapper sees it return.
//
//hotpatch:slot example.Split
func SplitLast(s string) (head string, rest []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("recovered: %v", v)
		}
	}()
	panic("inner " + s)
}
