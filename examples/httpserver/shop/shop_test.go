package shop_test

import (
	"testing"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

func TestCents(t *testing.T) {
	for c, want := range map[shop.Cents]string{0: "€0.00", 5: "€0.05", 1099: "€10.99", -250: "-€2.50"} {
		if got := c.String(); got != want {
			t.Errorf("Cents(%d) = %q, want %q", int64(c), got, want)
		}
	}
	if got := shop.Percent(1099, 5); got != 55 {
		t.Errorf("5%% of 1099 = %d, want 55", got)
	}
}

func TestBaselines(t *testing.T) {
	books := shop.Catalog()
	dune := books[0]
	if q := shop.Price(dune, 2); q.Total != 2198 || q.Discount != 0 {
		t.Errorf("Price(2) = %+v", q)
	}
	if q := shop.Price(dune, 10); q.Subtotal != 10990 || q.Discount != 550 || q.Total != 10440 || q.Note == "" {
		t.Errorf("Price(10) = %+v", q)
	}
	if got := shop.Search(books, "  TOLKIEN "); len(got) != 1 || got[0].Title != "The Hobbit" {
		t.Errorf("Search = %v", got)
	}
	got := shop.Recommend(books, dune, 5)
	if len(got) != 2 || got[0].Title != "Neuromancer" || got[1].Title != "Foundation" {
		t.Errorf("Recommend = %v", got)
	}
	if got := shop.Recommend(books, dune, 1); len(got) != 1 {
		t.Errorf("Recommend(n=1) = %v", got)
	}
}
