// The process patch of the load test: its answers say who served them.
package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

const mark = "patched:process"

//hotpatch:slot inventory.Price
func Price(it stock.Item, qty int) stock.Quote {
	q := stock.Price(it, qty)
	q.Note = mark
	return q
}

//hotpatch:slot inventory.Audit
func Audit(items []stock.Item) []stock.Finding {
	out := stock.Audit(items)
	for i := range out {
		out[i].Note = mark
	}
	return out
}
