package patch

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// HotpatchRedirects replaces shop.Percent, a function the server never
// registered as a slot: the baseline's shop.Price calls it for the bulk
// discount, and from now on gets twice the rate. Reverting the patch puts
// the original back.
var HotpatchRedirects = map[string][2]any{
	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop.Percent": {shop.Percent, Percent},
}

// Percent is the new shop.Percent: twice pct percent of c, rounded to the
// nearest cent.
func Percent(c shop.Cents, pct int) shop.Cents {
	return (c*shop.Cents(2*pct) + 50) / 100
}

// BulkGreet announces the offer: a native patch serves at least one slot.
//
//hotpatch:slot example.Greet
func BulkGreet(name string) string {
	return fmt.Sprintf("hello %s: %d%% off from %d copies this week", name, 2*shop.BulkPercent, shop.BulkQty)
}
