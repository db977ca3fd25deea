// Command server is the test program of the journal's restart tests: it
// embeds hotpatch with a patch directory and a state directory, prints
// "ready ADDR" once started, and serves its state over HTTP.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/baseline/journal"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// build tells two builds apart (-ldflags=-X main.build=2).
var build = "1"

func main() {
	dir := flag.String("dir", "", "patch directory")
	state := flag.String("state", "", "state directory")
	carry := flag.Bool("carry", false, "carry script and process patches forward")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	hp, err := hotpatch.New(hotpatch.Options{Dir: *dir, StateDir: *state, Logger: log,
		Journal: journal.Options{CarryForward: *carry},
		Watch:   patchdir.Options{Debounce: 20 * time.Millisecond}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(2)
	}
	greet := hotpatch.MustRegister(hp, "example.Greet", func(n string) string { return "hello, " + n })
	ctx := context.Background()
	if err := hp.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(2)
	}
	mgr := hp.Manager()
	mux := http.NewServeMux()
	mux.HandleFunc("/greet", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, greet.Load()("x"))
	})
	mux.HandleFunc("/stack", func(w http.ResponseWriter, r *http.Request) {
		ids := []string{}
		for _, p := range mgr.Status().Stack {
			ids = append(ids, p.ID)
		}
		json.NewEncoder(w).Encode(ids)
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		type ev struct{ Type, PatchID, Err string }
		out := []ev{}
		for _, e := range mgr.History() {
			x := ev{Type: string(e.Type), PatchID: e.PatchID}
			if e.Err != nil {
				x.Err = e.Err.Error()
			}
			out = append(out, x)
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/apply", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		for _, l := range mgr.Loaders() {
			if !l.Match(path) {
				continue
			}
			p, err := mgr.Load(r.Context(), l, path)
			if err == nil {
				_, err = mgr.Apply(r.Context(), p)
			}
			if err == nil {
				err = hp.Journal().Sync(r.Context())
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, p.ID)
			return
		}
		http.Error(w, "no loader", http.StatusBadRequest)
	})
	mux.HandleFunc("/sync", func(w http.ResponseWriter, r *http.Request) {
		if err := hp.Journal().Sync(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	fmt.Printf("ready %s build=%s\n", ln.Addr(), build)
	http.Serve(ln, mux)
}
