package main

import (
	"net/http"
	"slices"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
)

// directRoutes is routes without slots, for the throughput comparison of
// go run ./bench (flag -direct): the same four endpoints, each calling the
// shop's compiled logic directly and not wrapped in hp.Handler. Patches
// still load, but nothing they change is served; the other routes are
// those of routes. TestDirectRoutes checks that both answer the same.
func (s *server) directRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(shop.Greet(r.URL.Query().Get("name"))))
	})
	mux.HandleFunc("GET /price", func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.book(w, r)
		if !ok {
			return
		}
		qty, ok := intParam(w, r, "qty", 1, 1, 10_000)
		if !ok {
			return
		}
		writeJSON(w, shop.Price(b, qty))
	})
	mux.HandleFunc("GET /books", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, nonNil(shop.Search(slices.Clone(s.catalog), r.URL.Query().Get("q"))))
	})
	mux.HandleFunc("GET /recommend", func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.book(w, r)
		if !ok {
			return
		}
		n, ok := intParam(w, r, "n", 3, 1, 50)
		if !ok {
			return
		}
		got := shop.Recommend(slices.Clone(s.catalog), b, n)
		writeJSON(w, nonNil(got[:min(n, len(got))]))
	})
	mux.Handle("/", s.routes()) // everything else as usual
	return mux
}
