package hotpatch

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/bundle"
)

// TestReplayMarksSurviveARestart: a bundle older than one applied before
// the process restarted (a crash, a baseline step) is still a replay. The
// marks were in memory only, so after any restart an old signed version
// of a fix (one with the bug it fixed) applied again.
func TestReplayMarksSurviveARestart(t *testing.T) {
	t.Parallel()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	state := filepath.Join(t.TempDir(), "state")
	bundles := t.TempDir()
	write := func(version uint64) string {
		var buf bytes.Buffer
		src := []byte("package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(n string) string { return \"v\" + n }\n")
		m := bundle.Manifest{ID: "greet", Version: version, Kind: "script", Slots: []bundle.Slot{{Name: "example.Greet"}}, Payload: bundle.Payload{Name: "greet.go"}}
		if _, err := bundle.Write(&buf, m, src, key); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bundles, filepath.Base(t.Name())+string(rune('0'+version))+".hpatch")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pol := &bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true}
	run := func(path string) error {
		rt, err := New(Options{StateDir: state, Bundles: pol})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(context.Background())
		MustRegister(rt, "example.Greet", func(n string) string { return n })
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		p, err := rt.Manager().Load(context.Background(), rt.Bundles(), path)
		if err != nil {
			return err
		}
		if _, err := rt.Manager().Apply(context.Background(), p); err != nil {
			return err
		}
		return rt.Manager().Revert(context.Background(), p.ID) // the next start applies nothing again
	}
	if err := run(write(2)); err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if err := run(write(1)); !errors.Is(err, bundle.ErrReplay) {
		t.Fatalf("version 1 after a restart: %v, want %v", err, bundle.ErrReplay)
	}
	if err := run(write(3)); err != nil {
		t.Fatalf("version 3 after a restart: %v", err)
	}
	if pol.Marks != nil {
		t.Errorf("New wrote into the caller's policy")
	}
	if fi, err := os.Stat(filepath.Join(state, MarksFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("marks file: %v, %v; want mode 0600", fi, err)
	}
}
