package patch

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"
)

// Audit also flags the items whose open orders hold more than half of the
// shelves: they run low faster than the reorder point says.
//
//hotpatch:slot inventory.Audit
func Audit(items []stock.Item) []stock.Finding {
	out := stock.Audit(items)
	for i, it := range items {
		if out[i].Level == "ok" && it.Reserved*2 > it.OnHand {
			out[i].Level = "tight"
			out[i].Note = fmt.Sprintf("%d of %d on hand reserved", it.Reserved, it.OnHand)
		}
	}
	return out
}
