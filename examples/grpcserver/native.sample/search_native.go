package patch

import (
	"strconv"
	"strings"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"
)

// Search also understands "under N": the items whose unit price is under
// N dollars. Compiled Go, loaded into the server as a plugin, calling the
// server's own stock package for every other query.
//
//hotpatch:slot inventory.Search
func Search(items []stock.Item, query string) []stock.Item {
	rest, ok := strings.CutPrefix(strings.TrimSpace(query), "under ")
	dollars, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(rest), "$"))
	if !ok || err != nil {
		return stock.Search(items, query)
	}
	var found []stock.Item
	for _, it := range items {
		if it.Unit < stock.Cents(dollars*100) {
			found = append(found, it)
		}
	}
	return found
}
