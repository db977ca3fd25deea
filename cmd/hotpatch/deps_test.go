package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanDependencies: the build commands link no runtime loader, no
// manager and no package plugin, and the machine-level packages import
// nothing of hotpatch but what each is allowed. A new import that breaks
// this is caught here rather than in the size of the binary.
func TestLeanDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	const mod = "github.com/hotpatch-go/hotpatch"
	// registry joins this list once package loader checks slot names with
	// internal/slotname instead of registry.ValidName.
	runtimeSide := []string{mod + "/hotswap", mod + "/registry", mod + "/watcher", mod + "/loader/", "plugin",
		"github.com/traefik/yaegi", "github.com/hashicorp/go-plugin", "google.golang.org/grpc", "github.com/fsnotify/fsnotify"}
	for _, tt := range []struct {
		pkg       string
		forbidden []string // prefixes; "plugin" is matched exactly
		allowed   []string // packages of this module that may appear
	}{
		{pkg: mod + "/cmd/hotpatch", forbidden: runtimeSide},
		{pkg: mod + "/internal/patchbuild", forbidden: runtimeSide},
		{pkg: mod + "/fingerprint", forbidden: []string{mod + "/"}, allowed: []string{mod + "/fingerprint", mod + "/internal/patchfile"}},
		{pkg: mod + "/redirect", forbidden: []string{mod + "/"}, allowed: []string{mod + "/redirect"}},
		{pkg: mod + "/internal/manifest", forbidden: []string{mod + "/"}, allowed: []string{mod + "/internal/manifest", mod + "/fingerprint", mod + "/internal/patchfile", mod + "/internal/atomicfile"}},
	} {
		out, err := exec.Command("go", "list", "-deps", tt.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tt.pkg, err)
		}
	deps:
		for _, dep := range strings.Fields(string(out)) {
			for _, ok := range tt.allowed {
				if dep == ok {
					continue deps
				}
			}
			for _, bad := range tt.forbidden {
				if dep == bad || bad != "plugin" && strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", tt.pkg, dep)
				}
			}
		}
	}
}
