package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotpatch-go/hotpatch/fingerprint"
	"github.com/hotpatch-go/hotpatch/internal/manifest"
)

// TestDevSlotSitesLinked: a sample patch kept in the module (as
// examples/httpserver keeps patches.sample/greet.go) carries the slot's
// directive too, but the server does not link its package: an edit of
// the slot's body stays hot. A copy in a package the baseline links
// still takes the baseline step.
func TestDevSlotSitesLinked(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(bin, []byte("not an executable, only a record"), 0o755); err != nil {
		t.Fatal(err)
	}
	hash := "sha256:" + strings.Repeat("0", 64)
	if err := manifest.WriteSources(bin, fingerprint.Sources{"example.com/m": hash, "example.com/m/shop": hash}); err != nil {
		t.Fatal(err)
	}
	sample := "package patch\n\n//hotpatch:slot example.Greet\nfunc Greet(name string) string {\n\treturn \"sample, \" + name\n}\n"
	edit := strings.Replace(devBase, `"hello, "`, `"hi, "`, 1)
	for _, tt := range []struct {
		name, rel string
		hot       bool
	}{
		{"in a package not linked", "patches.sample/greet.go", true},
		{"in a linked package", "shop/more.go", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := sample
			if strings.HasPrefix(tt.rel, "shop/") {
				src = strings.Replace(sample, "package patch", "package shop", 1)
				src = strings.Replace(src, "func Greet", "func GreetSample", 1)
			}
			l := &devLoop{modPath: "example.com/m", baseBin: bin, base: map[string][]byte{
				"go.mod":       []byte("module example.com/m\n"),
				"shop/shop.go": []byte(devBase),
				tt.rel:         []byte(src),
			}}
			l.cur = l.base
			now := map[string][]byte{}
			for k, v := range l.base {
				now[k] = v
			}
			now["shop/shop.go"] = []byte(edit)
			edits, reason, perr := l.decide(now)
			if perr != nil {
				t.Fatal(perr)
			}
			if hot := len(edits) == 1 && reason == ""; hot != tt.hot {
				t.Errorf("%d edits, reason %q; want hot %v", len(edits), reason, tt.hot)
			}
		})
	}
}
