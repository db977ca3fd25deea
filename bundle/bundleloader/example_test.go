package bundleloader_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// A signed bundle of a script loads and applies; a replay of an older
// version is refused.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	reg := registry.New()
	greet := registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello, " + n })
	mgr, _ := hotswap.New(reg, hotswap.Options{})
	defer mgr.Close(context.Background())
	bl := bundleloader.New(bundle.Policy{Trusted: []ed25519.PublicKey{pub}, RequireSigned: true},
		bundleloader.Options{}, script.New(script.Options{}))
	mgr.Attach(bl)

	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	push := func(version uint64, greeting string) error {
		src := "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"" + greeting + ", \" + n }\n"
		var buf bytes.Buffer
		bundle.Write(&buf, bundle.Manifest{ID: "greet", Version: version, Kind: "script", Slots: []bundle.Slot{{Name: "example.Greet"}}, Payload: bundle.Payload{Name: "greet.go"}}, []byte(src), priv)
		path := filepath.Join(dir, fmt.Sprintf("greet-%d.hpatch", version))
		os.WriteFile(path, buf.Bytes(), 0o644)
		p, err := mgr.Load(context.Background(), bl, path)
		if err != nil {
			return err
		}
		_, err = mgr.Apply(context.Background(), p)
		return err
	}

	fmt.Println(push(2, "hi"), greet.Load()("ann"), mgr.Status().Stack[0].ID)
	err := push(1, "old")
	fmt.Println(errors.Is(err, bundle.ErrReplay), greet.Load()("ann"))
	// Output:
	// <nil> hi, ann greet@2
	// true hi, ann
}
