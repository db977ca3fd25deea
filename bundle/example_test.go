package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
)

// A bundle is written and signed by the build side, then read, verified
// and its payload copied out by the host.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	src := []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"hi \" + n }\n")

	var file bytes.Buffer
	_, err := bundle.Write(&file, bundle.Manifest{
		ID: "greet-fix", Version: 1, Kind: "script",
		Slots:   []bundle.Slot{{Name: "example.Greet", Type: "func(string) string"}},
		Payload: bundle.Payload{Name: "greet.go"},
	}, src, priv)
	if err != nil {
		panic(err)
	}

	b, err := bundle.Read(bytes.NewReader(file.Bytes()), int64(file.Len()), bundle.Limits{})
	if err != nil {
		panic(err)
	}
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{pub}, RequireSigned: true, Now: time.Now}
	if _, err := pol.Verify(b); err != nil {
		panic(err)
	}
	var payload bytes.Buffer
	if err := b.CopyPayload(&payload); err != nil {
		panic(err)
	}
	fmt.Println(b.Manifest.PatchID(), b.Manifest.Kind, payload.Len() == len(src))

	// Another key's signature is refused.
	other, _, _ := ed25519.GenerateKey(nil)
	_, err = (&bundle.Policy{Trusted: []ed25519.PublicKey{other}, RequireSigned: true}).Verify(b)
	fmt.Println(err != nil)
	// Output:
	// greet-fix@1 script true
	// true
}
