// Package shop is the domain of the example bookshop: books, prices and the
// compiled-in (baseline) logic of the server's patchable functions.
//
// Patch scripts import it as "github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
// and use its types and helpers through the symbols generated into package
// symbols. Its baseline funcs (Greet, Price, Search, Recommend) are what the
// server registers as slots, so a script can also delegate to them, as
// patches.sample/price_sale.go does.
package shop
