package patch

import (
	"fmt"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// Greet tells the reader how many books the shop has: native code, calling
// the host's own package.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return fmt.Sprintf("hello %s, from native code: %d books in stock", name, len(shop.Catalog()))
}
