package patch

import "github.com/hotpatch-go/hotpatch/examples/httpserver/shop"

// salePercent is this week's discount on science fiction.
const salePercent = 20

// SalePrice runs science-fiction week: salePercent off every sf book, on
// top of the usual bulk discount, which the baseline still computes.
//
//hotpatch:slot shop.Price
func SalePrice(b shop.Book, qty int) shop.Quote {
	q := shop.Price(b, qty)
	if b.Genre != "sf" {
		return q
	}
	q.Discount += shop.Percent(q.Subtotal-q.Discount, salePercent)
	q.Total = q.Subtotal - q.Discount
	if q.Note != "" {
		q.Note += ", then "
	}
	q.Note += "science-fiction week: 20% off"
	return q
}
