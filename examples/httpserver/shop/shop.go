package shop

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Cents is an amount of money in euro cents.
type Cents int64

// String formats c as euros, such as "€12.50".
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s€%d.%02d", sign, c/100, c%100)
}

// Percent returns pct percent of c, rounded to the nearest cent.
func Percent(c Cents, pct int) Cents {
	return (c*Cents(pct) + 50) / 100
}

// Book is one title of the catalog.
type Book struct {
	ISBN   string `json:"isbn"`
	Title  string `json:"title"`
	Author string `json:"author"`
	Genre  string `json:"genre"`
	Year   int    `json:"year"`
	Price  Cents  `json:"price"` // per copy
}

// Quote is the price of some copies of one book.
type Quote struct {
	ISBN     string `json:"isbn"`
	Qty      int    `json:"qty"`
	Unit     Cents  `json:"unit"`
	Subtotal Cents  `json:"subtotal"`
	Discount Cents  `json:"discount"`
	Total    Cents  `json:"total"`
	Note     string `json:"note,omitempty"` // why the discount, for the customer
}

// Catalog returns the shop's books, a new slice on every call.
func Catalog() []Book {
	return []Book{
		{"9780441013593", "Dune", "Frank Herbert", "sf", 1965, 1099},
		{"9780553293357", "Foundation", "Isaac Asimov", "sf", 1951, 899},
		{"9780441569595", "Neuromancer", "William Gibson", "sf", 1984, 999},
		{"9780547928227", "The Hobbit", "J. R. R. Tolkien", "fantasy", 1937, 1299},
		{"9780553573404", "A Game of Thrones", "George R. R. Martin", "fantasy", 1996, 1199},
		{"9780765326355", "The Way of Kings", "Brandon Sanderson", "fantasy", 2010, 1499},
		{"9780062073488", "And Then There Were None", "Agatha Christie", "crime", 1939, 899},
		{"9780307474278", "The Girl with the Dragon Tattoo", "Stieg Larsson", "crime", 2005, 1099},
		{"9780141439518", "Pride and Prejudice", "Jane Austen", "classic", 1813, 599},
		{"9780486415871", "Crime and Punishment", "Fyodor Dostoevsky", "classic", 1866, 799},
		{"9780553380163", "A Brief History of Time", "Stephen Hawking", "science", 1988, 1899},
		{"9780393609394", "Astrophysics for People in a Hurry", "Neil deGrasse Tyson", "science", 2017, 1399},
	}
}

// Greet is the baseline of slot example.Greet: the greeting of GET /greet.
//
//hotpatch:slot example.Greet
func Greet(name string) string {
	return "hello, " + name
}

// BulkQty is the number of copies from which Price grants BulkPercent off.
const (
	BulkQty     = 10
	BulkPercent = 5
)

// Price is the baseline of slot shop.Price: list price, and BulkPercent off
// from BulkQty copies.
//
//hotpatch:slot shop.Price
func Price(b Book, qty int) Quote {
	q := Quote{ISBN: b.ISBN, Qty: qty, Unit: b.Price, Subtotal: b.Price * Cents(qty)}
	if qty >= BulkQty {
		q.Discount = Percent(q.Subtotal, BulkPercent)
		q.Note = fmt.Sprintf("%d%% off from %d copies", BulkPercent, BulkQty)
	}
	q.Total = q.Subtotal - q.Discount
	return q
}

// Search is the baseline of slot shop.Search: the books whose title or
// author contains query, ignoring case, by title.
//
//hotpatch:slot shop.Search
func Search(catalog []Book, query string) []Book {
	q := strings.ToLower(strings.TrimSpace(query))
	var out []Book
	for _, b := range catalog {
		if strings.Contains(strings.ToLower(b.Title), q) || strings.Contains(strings.ToLower(b.Author), q) {
			out = append(out, b)
		}
	}
	SortByTitle(out)
	return out
}

// Recommend is the baseline of slot shop.Recommend: up to n other books of
// the same genre, newest first.
//
//hotpatch:slot shop.Recommend
func Recommend(catalog []Book, b Book, n int) []Book {
	var out []Book
	for _, c := range catalog {
		if c.Genre == b.Genre && c.ISBN != b.ISBN {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(x, y Book) int { return cmp.Compare(y.Year, x.Year) })
	return out[:min(n, len(out))]
}

// SortByTitle sorts books by title, in place. Scripts cannot call
// slices.SortFunc (yaegi has no generic standard library funcs), so the
// shop offers this.
func SortByTitle(books []Book) {
	slices.SortFunc(books, func(x, y Book) int { return cmp.Compare(x.Title, y.Title) })
}
