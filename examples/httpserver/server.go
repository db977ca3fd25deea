package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
	"github.com/hotpatch-go/hotpatch/metrics"
	"github.com/hotpatch-go/hotpatch/registry"
)

// server is the bookshop's HTTP API. The logic behind each endpoint is a
// slot, so a patch can change it while the server runs.
type server struct {
	catalog []shop.Book          // never changed after newServer
	byISBN  map[string]shop.Book // never changed after newServer
	hp      *hotpatch.Runtime
	metrics http.Handler // GET /metrics

	greet     *registry.Func[func(name string) string]
	price     *registry.Func[func(b shop.Book, qty int) shop.Quote]
	search    *registry.Func[func(catalog []shop.Book, query string) []shop.Book]
	recommend *registry.Func[func(catalog []shop.Book, b shop.Book, n int) []shop.Book]
}

// The slots of the server, with the types their patches must have.
const (
	slotGreet     = "example.Greet"  // func(name string) string
	slotPrice     = "shop.Price"     // func(b shop.Book, qty int) shop.Quote
	slotSearch    = "shop.Search"    // func(catalog []shop.Book, query string) []shop.Book
	slotRecommend = "shop.Recommend" // func(catalog []shop.Book, b shop.Book, n int) []shop.Book
)

// newServer registers the server's slots in hp, with the shop's baseline
// logic.
func newServer(hp *hotpatch.Runtime) *server {
	s := &server{catalog: shop.Catalog(), byISBN: make(map[string]shop.Book), hp: hp}
	for _, b := range s.catalog {
		s.byISBN[b.ISBN] = b
	}
	s.greet = hotpatch.MustRegister(hp, slotGreet, shop.Greet)
	s.price = hotpatch.MustRegister(hp, slotPrice, shop.Price)
	s.search = hotpatch.MustRegister(hp, slotSearch, shop.Search)
	s.recommend = hotpatch.MustRegister(hp, slotRecommend, shop.Recommend)
	// The collector counts the manager's events from now on; its goroutine
	// ends when the runtime closes the manager.
	s.metrics = metrics.New(hp.Manager()).Handler()
	return s
}

// routes wraps each endpoint whose logic is a slot in hp.Handler: each
// request counts as one call of the patch serving the slot when it began,
// for the patch's probation; a panic in it (in a patch, or in the
// baseline) is answered with 500, logged, and counted once as a failure,
// for every kind of patch, as is a 5xx answer, so that the rollback policy
// reverts a bad patch.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /greet", s.hp.Handler(slotGreet, http.HandlerFunc(s.handleGreet)))
	mux.Handle("GET /price", s.hp.Handler(slotPrice, http.HandlerFunc(s.handlePrice)))
	mux.Handle("GET /books", s.hp.Handler(slotSearch, http.HandlerFunc(s.handleSearch)))
	mux.Handle("GET /recommend", s.hp.Handler(slotRecommend, http.HandlerFunc(s.handleRecommend)))
	mux.Handle("GET /admin/patches", s.hp.StatusHandler())
	// What serves each slot, the stack and the recent events, as a page
	// and as JSON (status.json); Prometheus metrics. Like /admin/patches,
	// they show patch sources and errors: behind access control in
	// production.
	mux.Handle("/debug/hotpatch/", debugpage.Handler(s.hp.Manager()))
	mux.Handle("GET /metrics", s.metrics)
	return mux
}

// GET /greet?name=NAME answers with the greeting as the whole body.
func (s *server) handleGreet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.greet.Load()(r.URL.Query().Get("name"))))
}

// GET /price?isbn=ISBN&qty=N answers with a shop.Quote.
func (s *server) handlePrice(w http.ResponseWriter, r *http.Request) {
	b, ok := s.book(w, r)
	if !ok {
		return
	}
	qty, ok := intParam(w, r, "qty", 1, 1, 10_000)
	if !ok {
		return
	}
	writeJSON(w, s.price.Load()(b, qty))
}

// GET /books?q=QUERY answers with the matching books.
func (s *server) handleSearch(w http.ResponseWriter, r *http.Request) {
	// Patches get a copy: a bug in one must not corrupt the catalog that
	// every request shares.
	writeJSON(w, nonNil(s.search.Load()(slices.Clone(s.catalog), r.URL.Query().Get("q"))))
}

// GET /recommend?isbn=ISBN&n=N answers with up to N books for readers of
// the given one.
func (s *server) handleRecommend(w http.ResponseWriter, r *http.Request) {
	b, ok := s.book(w, r)
	if !ok {
		return
	}
	n, ok := intParam(w, r, "n", 3, 1, 50)
	if !ok {
		return
	}
	got := s.recommend.Load()(slices.Clone(s.catalog), b, n)
	writeJSON(w, nonNil(got[:min(n, len(got))]))
}

// book finds the book named by the isbn parameter, or answers 400 or 404.
func (s *server) book(w http.ResponseWriter, r *http.Request) (shop.Book, bool) {
	isbn := r.URL.Query().Get("isbn")
	if isbn == "" {
		http.Error(w, "missing isbn parameter", http.StatusBadRequest)
		return shop.Book{}, false
	}
	b, ok := s.byISBN[isbn]
	if !ok {
		http.Error(w, "no book with ISBN "+strconv.Quote(isbn), http.StatusNotFound)
	}
	return b, ok
}

// intParam reads an integer parameter, def when absent, or answers 400.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		http.Error(w, fmt.Sprintf("parameter %s: want an integer from %d to %d", name, lo, hi), http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// A patch returned something JSON cannot encode: that is a failure
		// of the slot, which the middleware reports.
		panic(errors.Join(errors.New("encoding the response"), err))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
