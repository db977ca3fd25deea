package patch

import "github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"

// Price runs a clearance of supplies: the usual price, then 25% off every
// item of the supplies category.
//
//hotpatch:slot inventory.Price
func Price(it stock.Item, qty int) stock.Quote {
	q := stock.Price(it, qty)
	if it.Category != "supplies" {
		return q
	}
	off := q.Total / 4
	q.Discount += off
	q.Total -= off
	q.Note += ", then supplies clearance: 25% off"
	return q
}
