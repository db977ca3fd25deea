package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/hotpatch-go/hotpatch/examples/httpserver/shop"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// server is the bookshop's HTTP API. The logic behind each endpoint is a
// slot, so a patch can change it while the server runs.
type server struct {
	catalog []shop.Book          // never changed after newServer
	byISBN  map[string]shop.Book // never changed after newServer
	reg     *registry.Registry
	mgr     *hotswap.Manager
	log     *slog.Logger

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

// registerSlots registers the server's slots in reg, with the shop's
// baseline logic.
func registerSlots(reg *registry.Registry, s *server) {
	s.greet = registry.MustRegister(reg, slotGreet, shop.Greet)
	s.price = registry.MustRegister(reg, slotPrice, shop.Price)
	s.search = registry.MustRegister(reg, slotSearch, shop.Search)
	s.recommend = registry.MustRegister(reg, slotRecommend, shop.Recommend)
}

func newServer(reg *registry.Registry, log *slog.Logger) *server {
	s := &server{catalog: shop.Catalog(), byISBN: make(map[string]shop.Book), reg: reg, log: log}
	for _, b := range s.catalog {
		s.byISBN[b.ISBN] = b
	}
	registerSlots(reg, s)
	return s
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /greet", s.slot(slotGreet, s.handleGreet))
	mux.Handle("GET /price", s.slot(slotPrice, s.handlePrice))
	mux.Handle("GET /books", s.slot(slotSearch, s.handleSearch))
	mux.Handle("GET /recommend", s.slot(slotRecommend, s.handleRecommend))
	mux.HandleFunc("GET /admin/patches", s.handleStatus)
	return mux
}

// slot wraps the handler of an endpoint whose logic is the named slot. A
// panic in it (in a patch, or in the baseline) is logged, reported to the
// manager against the slot, so that its rollback policy can revert a bad
// patch, and answered with 500. The script loader could report script
// panics itself (script.Options.Report); here the middleware does it for
// every kind of patch, and only once.
func (s *server) slot(name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // a deliberate abort, which net/http handles quietly
				panic(v)
			}
			err := fmt.Errorf("%s %s: %w", r.Method, r.URL.RequestURI(), &hotswap.PanicError{Value: v, Stack: debug.Stack()})
			s.log.Error("handler panicked", "slot", name, "patch", s.servingPatch(name), "err", err)
			s.mgr.ReportFailure(name, err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h(w, r)
	})
}

func (s *server) servingPatch(slot string) string {
	if sl, ok := s.reg.Lookup(slot); ok {
		return sl.Info().PatchID
	}
	return ""
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

// status is the answer of GET /admin/patches.
type status struct {
	Generation uint64        `json:"generation"`
	Slots      []slotStatus  `json:"slots"`
	Stack      []patchStatus `json:"stack"`
	Events     []eventStatus `json:"events"` // the most recent last
}

type slotStatus struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Patch      string `json:"patch,omitempty"` // "" for the baseline
	Generation uint64 `json:"generation"`
	Failures   int64  `json:"failures,omitempty"`
}

type patchStatus struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Source  string   `json:"source"`
	Serving []string `json:"serving"`
}

type eventStatus struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Generation uint64    `json:"generation"`
	Patch      string    `json:"patch,omitempty"`
	Source     string    `json:"source,omitempty"`
	Err        string    `json:"err,omitempty"`
}

// maxEvents bounds the events GET /admin/patches shows.
const maxEvents = 50

// GET /admin/patches answers with the slots, the patch stack and the recent
// events, errors included.
func (s *server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := s.mgr.Status()
	out := status{Generation: st.Generation, Slots: []slotStatus{}, Stack: []patchStatus{}, Events: []eventStatus{}}
	for _, sl := range st.Slots {
		out.Slots = append(out.Slots, slotStatus{Name: sl.Name, Type: sl.Type, Patch: sl.PatchID, Generation: sl.Generation, Failures: sl.Failures})
	}
	for _, p := range st.Stack {
		out.Stack = append(out.Stack, patchStatus{ID: p.ID, Kind: string(p.Kind), Source: p.Source, Serving: nonNil(p.Serving)})
	}
	hist := s.mgr.History()
	for _, e := range hist[max(0, len(hist)-maxEvents):] {
		es := eventStatus{Time: e.Time, Type: string(e.Type), Generation: e.Generation, Patch: e.PatchID, Source: e.Source}
		if e.Err != nil {
			es.Err = e.Err.Error()
		}
		out.Events = append(out.Events, es)
	}
	writeJSON(w, out)
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
