package stock_test

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"
)

// The baseline logic of the three slots, as the server calls it.
func Example() {
	items := stock.Items()
	for _, it := range stock.Search(items, "hex bolt") {
		fmt.Println(it.SKU, it.Name)
	}
	q := stock.Price(items[0], 150)
	fmt.Println(q.Total, q.Discount, q.Note)
	for _, f := range stock.Audit(items[4:6]) {
		fmt.Println(f.SKU, f.Level, f.Note)
	}
	// Output:
	// BLT-M6-20 Hex bolt M6x20, zinc
	// BLT-M8-30 Hex bolt M8x30, zinc
	// 1283 67 5% off from 100 units
	// DRL-18V ok 17 available
	// SAW-JIG low 3 available, reorder at 5
}
