// Package inlinecost is a small, representative HTTP JSON service used to
// measure what disabling inlining costs (docs/native.md, "Inlining"). It is
// not part of hotpatch: `hotpatch build` documentation quotes its figures.
//
// The handler does what a typical API handler does: route on the path,
// authenticate from a header, decode a JSON body, validate it, compute with
// small helpers (getters, a price calculation, string formatting), and
// encode a JSON response. Most of the time is spent in the standard
// library, as in most servers; a fair part is in the service's own small
// functions, which inlining helps.
package inlinecost

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Item is one line of an order.
type Item struct {
	SKU      string  `json:"sku"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

// Order is the request body.
type Order struct {
	Customer string `json:"customer"`
	Currency string `json:"currency"`
	Items    []Item `json:"items"`
	Coupon   string `json:"coupon,omitempty"`
}

// Quote is the response body.
type Quote struct {
	Customer string   `json:"customer"`
	Lines    []string `json:"lines"`
	Subtotal float64  `json:"subtotal"`
	Discount float64  `json:"discount"`
	Tax      float64  `json:"tax"`
	Total    float64  `json:"total"`
}

type customer struct {
	name   string
	tier   int
	region string
}

func (c *customer) Tier() int         { return c.tier }
func (c *customer) Region() string    { return c.region }
func (c *customer) Premium() bool     { return c.tier >= 2 }
func (i Item) LineTotal() float64     { return float64(i.Quantity) * i.Price }
func (i Item) Valid() bool            { return i.SKU != "" && i.Quantity > 0 && i.Price >= 0 }
func round2(x float64) float64        { return float64(int64(x*100+0.5)) / 100 }
func taxRate(region string) float64   { return map[bool]float64{true: 0.2, false: 0.1}[region == "eu"] }
func discountFor(c *customer) float64 { return [...]float64{0, 0.05, 0.1, 0.15}[min(c.Tier(), 3)] }

var errBadOrder = errors.New("bad order")

// Server is the service.
type Server struct {
	mu        sync.RWMutex
	customers map[string]*customer
	tokens    map[string]string
	coupons   map[string]float64
}

// NewServer returns a server with n customers.
func NewServer(n int) *Server {
	s := &Server{customers: map[string]*customer{}, tokens: map[string]string{}, coupons: map[string]float64{"SPRING": 0.05}}
	for i := 0; i < n; i++ {
		id := "c" + strconv.Itoa(i)
		s.customers[id] = &customer{name: id, tier: i % 4, region: [...]string{"eu", "us"}[i%2]}
		s.tokens["token-"+id] = id
	}
	return s
}

func (s *Server) lookup(token string) (*customer, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.tokens[token]
	if !ok {
		return nil, false
	}
	c, ok := s.customers[id]
	return c, ok
}

func (s *Server) coupon(code string) float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.coupons[code]
}

func bearer(h string) string {
	if after, ok := strings.CutPrefix(h, "Bearer "); ok {
		return after
	}
	return ""
}

func validate(o *Order) error {
	if o.Customer == "" || len(o.Items) == 0 || len(o.Currency) != 3 {
		return errBadOrder
	}
	for _, it := range o.Items {
		if !it.Valid() {
			return errBadOrder
		}
	}
	return nil
}

func (s *Server) quote(c *customer, o *Order) Quote {
	q := Quote{Customer: o.Customer, Lines: make([]string, 0, len(o.Items))}
	items := append([]Item(nil), o.Items...)
	sort.Slice(items, func(i, j int) bool { return items[i].SKU < items[j].SKU })
	var b strings.Builder
	for _, it := range items {
		lt := round2(it.LineTotal())
		q.Subtotal += lt
		b.Reset()
		b.WriteString(it.SKU)
		b.WriteString(" x")
		b.WriteString(strconv.Itoa(it.Quantity))
		b.WriteString(" = ")
		b.WriteString(strconv.FormatFloat(lt, 'f', 2, 64))
		b.WriteByte(' ')
		b.WriteString(strings.ToUpper(o.Currency))
		q.Lines = append(q.Lines, b.String())
	}
	d := discountFor(c)
	if c.Premium() {
		d += s.coupon(o.Coupon)
	}
	q.Discount = round2(q.Subtotal * d)
	q.Tax = round2((q.Subtotal - q.Discount) * taxRate(c.Region()))
	q.Total = round2(q.Subtotal - q.Discount + q.Tax)
	return q
}

// ServeHTTP routes /v1/quote.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/quote" {
		http.NotFound(w, r)
		return
	}
	c, ok := s.lookup(bearer(r.Header.Get("Authorization")))
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var o Order
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := validate(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.quote(c, &o))
}
