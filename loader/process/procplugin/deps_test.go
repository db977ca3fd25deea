package procplugin_test

import (
	"os/exec"
	"strings"
	"testing"
)

// hostOnly are packages a process patch must not link: the host's side of
// hotpatch, its directory watch, the directive parser and what it needs,
// the other kinds' runtimes.
var hostOnly = []string{
	"github.com/hotpatch-go/hotpatch",
	"github.com/hotpatch-go/hotpatch/hotswap",
	"github.com/hotpatch-go/hotpatch/registry",
	"github.com/hotpatch-go/hotpatch/watcher",
	"github.com/hotpatch-go/hotpatch/patchdir",
	"github.com/hotpatch-go/hotpatch/loader",
	"github.com/hotpatch-go/hotpatch/loader/process",
	"github.com/hotpatch-go/hotpatch/loader/native",
	"github.com/hotpatch-go/hotpatch/loader/script",
	"github.com/fsnotify/fsnotify",
	"github.com/traefik/yaegi/interp",
	"go/parser",
	"plugin",
}

// pluginSide are the packages of this module a process patch may link.
var pluginSide = map[string]bool{
	"github.com/hotpatch-go/hotpatch/loader/process/procplugin":        true,
	"github.com/hotpatch-go/hotpatch/loader/process/internal/callchan": true,
	"github.com/hotpatch-go/hotpatch/loader/process/internal/control":  true,
	"github.com/hotpatch-go/hotpatch/loader/process/internal/proctree": true,
	"github.com/hotpatch-go/hotpatch/internal/slotname":                true,
}

// TestPluginSideDeps: a minimal process patch (testdata/minimal, what the
// build command generates) links nothing of the host side, on every
// platform a plugin runs on.
func TestPluginSideDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	t.Parallel()
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "list", "-deps", "./testdata/minimal")
			cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps: %v\n%s", err, stderrOf(err))
			}
			deps := make(map[string]bool)
			for _, p := range strings.Fields(string(out)) {
				deps[p] = true
			}
			if !deps["github.com/hotpatch-go/hotpatch/loader/process/procplugin"] {
				t.Fatalf("go list -deps does not list procplugin:\n%s", out)
			}
			for _, p := range hostOnly {
				if deps[p] {
					t.Errorf("a process patch links %s (host side)", p)
				}
			}
			for p := range deps {
				if strings.HasPrefix(p, "github.com/hotpatch-go/hotpatch/") && !pluginSide[p] && p != "github.com/hotpatch-go/hotpatch/loader/process/procplugin/testdata/minimal" {
					t.Errorf("a process patch links %s, not a package of the plugin side", p)
				}
			}
		})
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
