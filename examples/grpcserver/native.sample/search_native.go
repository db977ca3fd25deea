package patch

import (
	"strings"

	"github.com/hotpatch-go/hotpatch/examples/grpcserver/stock"
)

// Search also finds an item by the start of its SKU, so "blt" lists every
// bolt: compiled Go, loaded into the server as a plugin, calling the
// server's own stock package.
//
//hotpatch:slot inventory.Search
func Search(items []stock.Item, query string) []stock.Item {
	found := stock.Search(items, query)
	if len(found) > 0 || query == "" {
		return found
	}
	prefix := strings.ToUpper(strings.TrimSpace(query))
	for _, it := range items {
		if strings.HasPrefix(it.SKU, prefix) {
			found = append(found, it)
		}
	}
	return found
}
