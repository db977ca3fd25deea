package patch

import (
	"strings"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// SearchWords finds the books that match every word of the query, in the
// title, the author, the genre or the ISBN.
//
//hotpatch:slot shop.Search
func SearchWords(catalog []shop.Book, query string) []shop.Book {
	words := strings.Fields(strings.ToLower(query))
	var out []shop.Book
	for _, b := range catalog {
		text := strings.ToLower(strings.Join([]string{b.Title, b.Author, b.Genre, b.ISBN}, " "))
		if containsAll(text, words) {
			out = append(out, b)
		}
	}
	shop.SortByTitle(out)
	return out
}

func containsAll(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}
