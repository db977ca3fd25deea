package metrics_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/metrics"
	"github.com/hotpatch-go/hotpatch/registry"
)

// The collector reads the serving version of each slot from the manager at
// each scrape.
func Example() {
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(name string) string { return "hello, " + name })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Close(context.Background())
	c := metrics.New(mgr)
	defer c.Close()

	_, err = mgr.Apply(context.Background(), hotswap.Patch{ID: "greet-v2",
		Impls: map[string]any{"example.Greet": func(name string) string { return "hi, " + name }}})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = testutil.CollectAndCompare(c, strings.NewReader(`
# HELP hotpatch_slot_info The version serving each slot (always 1); patch_id is empty and kind baseline for the compiled-in code.
# TYPE hotpatch_slot_info gauge
hotpatch_slot_info{kind="manual",patch_id="greet-v2",slot="example.Greet"} 1
`), "hotpatch_slot_info")
	fmt.Println("slot_info as expected:", err == nil)
	// Output:
	// slot_info as expected: true
}
