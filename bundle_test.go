package hotpatch

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
)

// TestBundlesInThePatchDirectory: with a policy that requires signatures,
// a signed bundle dropped into the patch directory applies, an unsigned
// one is refused with ErrUnsigned, and a bare script is not loaded at
// all; the serving version is untouched by both.
func TestBundlesInThePatchDirectory(t *testing.T) {
	t.Parallel()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	dir := filepath.Join(t.TempDir(), "patches")
	rt, err := New(Options{Dir: dir, Bundles: &bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if rt.Bundles() == nil || len(rt.Manager().Loaders()) != 1 {
		t.Fatalf("with RequireSigned, the bundle loader alone is attached: %v", rt.Manager().Loaders())
	}
	greet := MustRegister(rt, "example.Greet", func(n string) string { return "hello " + n })
	events, cancel := rt.Manager().Subscribe(16)
	defer cancel()
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := func(s string) []byte {
		return []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"" + s + " \" + n }\n")
	}
	write := func(name string, version uint64, payload []byte, k ed25519.PrivateKey) {
		var buf bytes.Buffer
		m := bundle.Manifest{ID: "greet", Version: version, Kind: "script", Slots: []bundle.Slot{{Name: "example.Greet"}}, Payload: bundle.Payload{Name: "greet.go"}}
		if _, err := bundle.Write(&buf, m, payload, k); err != nil {
			t.Fatal(err)
		}
		place(t, dir, name, buf.Bytes())
	}
	next := func(want hotswap.EventType) hotswap.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Type == want {
					return e
				}
			case <-time.After(30 * time.Second): // hang detector
				t.Fatalf("no %s event", want)
			}
		}
	}
	write("a.hpatch", 1, src("hi"), key)
	if e := next(hotswap.EventApplied); e.PatchID != "greet@1" || e.Kind != hotswap.KindScript {
		t.Fatalf("applied %+v", e)
	}
	if got := greet.Load()("x"); got != "hi x" {
		t.Fatalf("serving %q", got)
	}
	// A bare script is ignored; an unsigned bundle is refused. The
	// refusal comes after the script was ignored, so once it is seen,
	// nothing else happened.
	place(t, dir, "bare.go", src("bare"))
	write("b.hpatch", 2, src("unsigned"), nil)
	if e := next(hotswap.EventRejected); !errors.Is(e.Err, bundle.ErrUnsigned) {
		t.Fatalf("rejected %+v", e)
	}
	if got := greet.Load()("x"); got != "hi x" {
		t.Errorf("serving %q after the refusal", got)
	}
	if st := rt.Manager().Status(); len(st.Stack) != 1 {
		t.Errorf("stack %+v", st.Stack)
	}
}

// TestBundlesRefuseWritablePatchDirectory: with bundles on, a patch
// directory writable by others is refused at Start, with the fix.
func TestBundlesRefuseWritablePatchDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Dir: dir, Bundles: &bundle.Policy{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	if len(rt.Manager().Loaders()) != 4 {
		t.Errorf("without RequireSigned, the three loaders and the bundle loader: %v", rt.Manager().Loaders())
	}
	err = rt.Start(context.Background())
	if !errors.Is(err, bundle.ErrInsecureMode) {
		t.Fatalf("Start with a world-writable patch directory: %v", err)
	}
	t.Log(err)
}

// TestRefuseWritablePatchDirectory: without bundles too, a patch directory
// that group or others may write is refused at Start, saying how to fix
// it: who writes it chooses the code the server runs.
func TestRefuseWritablePatchDirectory(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o777, 0o775} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		rt, err := New(Options{Dir: dir, StateDir: NoStateDir})
		if err != nil {
			t.Fatal(err)
		}
		err = rt.Start(context.Background())
		if !errors.Is(err, bundle.ErrInsecureMode) || !strings.Contains(err.Error(), "chmod") {
			t.Errorf("Start with a patch directory of mode %v: %v, want ErrInsecureMode and the chmod fix", mode, err)
		}
		rt.Close(context.Background())
	}
}
