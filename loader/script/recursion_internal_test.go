package script

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/loader"
)

// TestCallGraphSize checks that the call graph grows with the size of the
// script, not with uses times stored funcs: a table of n funcs used n
// times once made n² edges, which for a 200 KB script took 20 s and 2 GB
// before the script was even evaluated.
func TestCallGraphSize(t *testing.T) {
	t.Parallel()
	const n = 300
	var b strings.Builder
	b.WriteString("package patch\n\nvar ops map[string]func() int\n\ntype I interface{ M() int }\n\nfunc init() {\n\tops = map[string]func() int{\n")
	for i := range n {
		fmt.Fprintf(&b, "\t\t\"k%d\": func() int { return len(ops) },\n", i)
	}
	b.WriteString("\t}\n}\n\nfunc use(x I) int {\n")
	for range n {
		b.WriteString("\t_ = ops\n\t_ = x.M()\n")
	}
	b.WriteString("\treturn 0\n}\n\n")
	for i := range n {
		fmt.Fprintf(&b, "type T%d struct{}\n\nfunc (T%d) M() int { return 0 }\n\n", i, i)
	}
	b.WriteString("//hotpatch:slot example.Greet\nfunc Greet(n string) string { return n }\n")
	s, err := loader.Parse("table.go", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	g := newCallGraph(s)
	edges := 0
	for _, es := range g.edges {
		edges += len(es)
	}
	if edges > 10*n {
		t.Errorf("%d edges for %d stored funcs, %d methods and %d uses of each", edges, n, n, n)
	}
	if err := recursion(s); !errors.Is(err, ErrRecursion) || !strings.Contains(err.Error(), "table.go:9:33: script: recursion, which the interpreter cannot bound: the func literal held by ops calls itself through ops") {
		t.Errorf("recursion = %v", err)
	}
}
