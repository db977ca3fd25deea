package hotpatch

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestAttackBundlePolicyThatRefusesAll: a policy that requires signatures
// and trusts no usable key would refuse every bundle, each refusal
// blaming the bundle; New says what is wrong with the policy instead.
func TestAttackBundlePolicyThatRefusesAll(t *testing.T) {
	t.Parallel()
	for name, pol := range map[string]*bundle.Policy{
		"no trusted key":    {RequireSigned: true},
		"key of 31 bytes":   {RequireSigned: true, Trusted: []ed25519.PublicKey{make([]byte, 31)}},
		"unsigned, bad key": {Trusted: []ed25519.PublicKey{make([]byte, 33)}},
	} {
		rt, err := New(Options{Dir: filepath.Join(t.TempDir(), "patches"), Bundles: pol})
		if err == nil {
			rt.Close(context.Background())
		}
		if !errors.Is(err, bundle.ErrBadKey) || !strings.Contains(err.Error(), "Trusted") {
			t.Errorf("%s: New = %v, want ErrBadKey naming Trusted", name, err)
		}
	}
}

// TestAttackManyBundlesDropped: eight signed bundles of different IDs and
// two bad ones dropped into the watched directory at once: all eight land
// (in some order, none lost), both bad ones are refused, and the private
// directory is left empty.
func TestAttackManyBundlesDropped(t *testing.T) {
	t.Parallel()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	dir := filepath.Join(t.TempDir(), "patches")
	priv := filepath.Join(t.TempDir(), "priv")
	rt, err := New(Options{Dir: dir, Bundles: &bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true},
		BundleLoader: bundleloader.Options{Dir: priv}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	MustRegister(rt, "example.Greet", func(n string) string { return "hello " + n })
	events, cancel := rt.Manager().Subscribe(64)
	defer cancel()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	bundleOf := func(id string, k ed25519.PrivateKey) []byte {
		var buf bytes.Buffer
		m := bundle.Manifest{ID: id, Version: 1, Kind: "script", Slots: []bundle.Slot{{Name: "example.Greet"}}, Payload: bundle.Payload{Name: "greet.go"}}
		src := "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"" + id + " \" + n }\n"
		if _, err := bundle.Write(&buf, m, []byte(src), k); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	// All written first, then renamed in one burst: the watcher and the
	// loads run concurrently with the burst and with each other.
	want := map[string]bool{}
	files := map[string][]byte{}
	for i := range 8 {
		id := fmt.Sprintf("fix-%d", i)
		want[id+"@1"] = true
		files[id+bundle.Ext] = bundleOf(id, key)
	}
	tampered := bundleOf("tampered", key)
	tampered[len(tampered)-3] ^= 1
	files["tampered"+bundle.Ext] = tampered
	files["unsigned"+bundle.Ext] = bundleOf("unsigned", nil)
	for name, data := range files {
		place(t, dir, name, data)
	}
	applied, rejected := map[string]bool{}, 0
	for len(applied) < 8 || rejected < 2 {
		select {
		case e := <-events:
			switch e.Type {
			case hotswap.EventApplied:
				if !want[e.PatchID] {
					t.Errorf("applied %s", e.PatchID)
				}
				applied[e.PatchID] = true
			case hotswap.EventRejected:
				if !errors.Is(e.Err, bundle.ErrUnsigned) && !errors.Is(e.Err, bundle.ErrPayloadTampered) {
					t.Errorf("rejected: %v", e.Err)
				}
				rejected++
			}
		case <-time.After(60 * time.Second): // hang detector
			t.Fatalf("applied %d of 8, rejected %d of 2", len(applied), rejected)
		}
	}
	if st := rt.Manager().Status(); len(st.Stack) != 8 {
		t.Errorf("%d patches in the stack, want 8", len(st.Stack))
	}
	if entries, _ := os.ReadDir(priv); len(entries) != 0 {
		t.Errorf("the private directory keeps %d entries", len(entries))
	}
}
