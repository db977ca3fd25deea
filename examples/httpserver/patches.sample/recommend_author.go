package patch

import (
	"sort"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// RecommendAuthorFirst recommends other books by the same author first,
// then books of the same genre from the closest years.
//
//hotpatch:slot shop.Recommend
func RecommendAuthorFirst(catalog []shop.Book, b shop.Book, n int) []shop.Book {
	var out []shop.Book
	for _, c := range catalog {
		if c.ISBN != b.ISBN && (c.Author == b.Author || c.Genre == b.Genre) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := out[i].Author == b.Author, out[j].Author == b.Author
		if ai != aj {
			return ai
		}
		return distance(out[i].Year, b.Year) < distance(out[j].Year, b.Year)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func distance(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a
}
