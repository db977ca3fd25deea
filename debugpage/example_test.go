package debugpage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hotpatch-go/hotpatch/debugpage"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/registry"
)

// Mount the page on the application's mux, as net/http/pprof is.
func Example() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background())
	_, err = mgr.Apply(context.Background(), hotswap.Patch{ID: "greet-v2",
		Impls: map[string]any{"example.Greet": func(name string) string { return "hi, " + name }}})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.Handle("/debug/hotpatch/", debugpage.Handler(mgr))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/hotpatch/status.json", nil))
	var st struct {
		Generation uint64
		Slots      []struct{ Name, Patch, Kind string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", st.Generation)
	for _, s := range st.Slots {
		fmt.Println(s.Name, "served by", s.Patch, s.Kind)
	}
	// Output:
	// generation 1
	// example.Greet served by greet-v2 manual
}
