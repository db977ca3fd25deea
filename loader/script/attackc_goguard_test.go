package script_test

import (
	"context"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader/script"
)

// TestGoNamedFuncKeepsSemantics: go f(args), which the loader starts as
// go hotpatchguard.Go(f)(args) so that a panic in it does not end the
// process, still evaluates f and its arguments at the go statement
// (a later change of a variable is not seen), converts untyped constants
// and nil to f's parameter types, packs variadic arguments, and starts
// methods, compiled funcs of imported packages, and calls whose argument
// is a func of multiple results.
func TestGoNamedFuncKeepsSemantics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := `package patch

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type acc struct{ out chan string }

func (a *acc) put(s string) { a.out <- s }

func send(out chan string, id int64, p *acc, f float32, tags ...string) {
	out <- fmt.Sprint(id, p == nil, f, strings.Join(tags, "+"))
}

func pair() (chan string, int64) { return res, 9 }

var res = make(chan string, 8)

func two(out chan string, n int64) { out <- fmt.Sprint("two ", n) }

//hotpatch:slot example.Greet
func Greet(n string) string {
	x := int64(1)
	go send(res, x, nil, 1.5, "a", n)
	x = 2
	a := &acc{out: res}
	go a.put("method " + n)
	go two(pair())
	go time.Sleep(0)
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, <-res)
	}
	sort.Strings(got)
	return strings.Join(got, "|")
}
`
	p, err := e.loader(script.Options{}).Load(context.Background(), e.host, e.write("gos.go", src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = p.Retire(context.Background()) })
	const want = "1 true 1.5a+x|method x|two 9"
	if got := p.Impls["example.Greet"].(func(string) string)("x"); got != want {
		t.Errorf("Greet = %q, want %q", got, want)
	}
}
