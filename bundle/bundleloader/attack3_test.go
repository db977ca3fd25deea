package bundleloader_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/bundle/bundleloader"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader/script"
	"github.com/hotpatch-go/hotpatch/registry"
)

// TestAttack3RelativePrivateDir: a relative Options.Dir names the
// directory of the working directory at New. The loader uses it at its
// first load, which may come after a chdir: it must not then write
// payloads into, and clear the "b-*" entries of, a directory of that
// name in the new working directory.
func TestAttack3RelativePrivateDir(t *testing.T) {
	app, elsewhere := t.TempDir(), t.TempDir()
	t.Chdir(app)
	reg := registry.New()
	registry.MustRegister(reg, "example.Greet", func(n string) string { return "hello " + n })
	mgr, err := hotswap.New(reg, hotswap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close(context.Background())
	pol := bundle.Policy{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, RequireSigned: true,
		Now: func() time.Time { return t0.Add(time.Hour) }}
	bl := bundleloader.New(pol, bundleloader.Options{Dir: "priv"}, script.New(script.Options{}))
	if err := mgr.Attach(bl); err != nil {
		t.Fatal(err)
	}
	t.Chdir(elsewhere)
	someones := filepath.Join(elsewhere, "priv", "b-data")
	if err := os.MkdirAll(someones, 0o700); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, mgr: mgr, bl: bl, dir: t.TempDir()}
	if err := f.apply(f.write("good", manifest(1), src("hi"), key)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(someones); err != nil {
		t.Errorf("the first load after a chdir removed %s: %v", someones, err)
	}
	if _, err := os.Stat(filepath.Join(app, "priv")); err != nil {
		t.Errorf("the private directory is not the one named at New: %v", err)
	}
}
