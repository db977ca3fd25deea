package shop_test

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

func ExamplePrice() {
	dune := shop.Catalog()[0]
	for _, qty := range []int{1, 10} {
		q := shop.Price(dune, qty)
		fmt.Printf("%d × %s: %v - %v = %v (%s)\n", qty, dune.Title, q.Subtotal, q.Discount, q.Total, q.Note)
	}
	// Output:
	// 1 × Dune: €10.99 - €0.00 = €10.99 ()
	// 10 × Dune: €109.90 - €5.50 = €104.40 (5% off from 10 copies)
}
