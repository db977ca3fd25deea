package admin_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch"
	"github.com/hotpatch-go/hotpatch/admin"
	"github.com/hotpatch-go/hotpatch/admin/api"
	"github.com/hotpatch-go/hotpatch/bundle"
)

// The admin API of an embedding, on a unix socket, asked for its status
// as `hotpatch status` asks.
func Example() {
	dir, _ := os.MkdirTemp("", "admin-example")
	defer os.RemoveAll(dir)
	pub := ed25519Key(7).Public().(ed25519.PublicKey) // bundle.ReadTrusted("ops.pub") in a server
	sock := filepath.Join(dir, "admin.sock")
	rt, err := hotpatch.New(hotpatch.Options{
		StateDir: filepath.Join(dir, "state"),
		Bundles:  &bundle.Policy{Trusted: []ed25519.PublicKey{pub}, RequireSigned: true},
		Admin:    &admin.Options{Socket: sock},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	hotpatch.MustRegister(rt, "example.Greet", func(n string) string { return "hello " + n })
	if err := rt.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(context.Background())

	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://admin" + api.PathStatus)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var st api.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range st.Slots {
		fmt.Printf("%s %s served by %q at generation %d\n", s.Name, s.Type, s.PatchID, st.Generation)
	}
	// Output:
	// example.Greet func(string) string served by "" at generation 0
}
