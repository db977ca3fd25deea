package stock

import (
	"fmt"
	"strings"
)

// Cents is an amount of money in cents.
type Cents int64

// Item is one stock-keeping unit of the warehouse.
type Item struct {
	SKU       string
	Name      string
	Category  string
	OnHand    int   // units on the shelves
	Reserved  int   // units promised to open orders
	ReorderAt int   // restock when the available units fall to this
	Unit      Cents // list price of one unit
}

// Available is the number of units that can still be promised.
func (it Item) Available() int { return max(it.OnHand-it.Reserved, 0) }

// Quote is the price of an order.
type Quote struct {
	SKU      string
	Qty      int
	Unit     Cents
	Discount Cents
	Total    Cents
	Note     string // how the price came about
}

// Finding is the audit of one item.
type Finding struct {
	SKU   string
	Level string // "ok", "low" or "out"
	Note  string
}

// Items returns the warehouse's items, a fresh copy at each call.
func Items() []Item {
	return []Item{
		{"BLT-M6-20", "Hex bolt M6x20, zinc", "fasteners", 12000, 1500, 2000, 9},
		{"BLT-M8-30", "Hex bolt M8x30, zinc", "fasteners", 800, 650, 1000, 14},
		{"NUT-M6", "Hex nut M6", "fasteners", 25000, 0, 5000, 3},
		{"WSH-M6", "Flat washer M6", "fasteners", 0, 0, 4000, 2},
		{"DRL-18V", "Cordless drill 18 V", "tools", 42, 25, 10, 8900},
		{"SAW-JIG", "Jigsaw 650 W", "tools", 7, 4, 5, 6450},
		{"BIT-SET-19", "HSS drill bit set, 19 pieces", "tools", 130, 12, 25, 1999},
		{"GLV-NIT-L", "Nitrile gloves, size L, box of 100", "safety", 340, 40, 100, 1150},
		{"GGL-CLR", "Safety goggles, clear", "safety", 18, 2, 30, 725},
		{"TAPE-DUCT", "Duct tape 50 m", "supplies", 260, 150, 80, 890},
		{"CBL-TIE-200", "Cable ties 200 mm, bag of 100", "supplies", 95, 95, 50, 450},
		{"LUB-WD-400", "Penetrating oil 400 ml", "supplies", 61, 0, 24, 620},
	}
}

// Price is the baseline logic of the slot inventory.Price: the list price,
// 5% off from 100 units and 10% off from 1000.
func Price(it Item, qty int) Quote {
	q := Quote{SKU: it.SKU, Qty: qty, Unit: it.Unit, Total: it.Unit * Cents(qty)}
	switch {
	case qty >= 1000:
		q.Discount, q.Note = q.Total/10, "10% off from 1000 units"
	case qty >= 100:
		q.Discount, q.Note = q.Total/20, "5% off from 100 units"
	default:
		q.Note = "list price"
	}
	q.Total -= q.Discount
	return q
}

// Search is the baseline logic of the slot inventory.Search: the items
// whose SKU, name or category contains every word of the query, ignoring
// case; every item for an empty query.
func Search(items []Item, query string) []Item {
	words := strings.Fields(strings.ToLower(query))
	var found []Item
	for _, it := range items {
		text := strings.ToLower(it.SKU + " " + it.Name + " " + it.Category)
		match := true
		for _, w := range words {
			if !strings.Contains(text, w) {
				match = false
				break
			}
		}
		if match {
			found = append(found, it)
		}
	}
	return found
}

// Audit is the baseline logic of the slot inventory.Audit: one finding
// per item, in the order of items ([Assess]).
func Audit(items []Item) []Finding {
	out := make([]Finding, len(items))
	for i, it := range items {
		out[i] = Assess(it)
	}
	return out
}

// Assess tells whether an item is out of stock, low (at or under its
// reorder point), or fine.
func Assess(it Item) Finding {
	switch avail := it.Available(); {
	case avail == 0:
		return Finding{SKU: it.SKU, Level: "out", Note: "nothing available"}
	case avail <= it.ReorderAt:
		return Finding{SKU: it.SKU, Level: "low", Note: fmt.Sprintf("%d available, reorder at %d", avail, it.ReorderAt)}
	default:
		return Finding{SKU: it.SKU, Level: "ok", Note: fmt.Sprintf("%d available", avail)}
	}
}
