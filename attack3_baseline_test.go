//go:build linux || darwin

package hotpatch_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/baseline"
)

// TestAttack3BaselineRelativeBinary: a relative Options.Binary names the
// file of the working directory at New; after a chdir, a restart must
// not start another file of that name, or find none. (One upgrader per
// process: the check runs in a process of its own.)
func TestAttack3BaselineRelativeBinary(t *testing.T) {
	if os.Getenv("HOTPATCH_ATTACK3_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAttack3BaselineRelativeBinary$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HOTPATCH_ATTACK3_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	app := t.TempDir()
	t.Chdir(app)
	up, err := baseline.New(baseline.Options{Binary: "./srv", NoSignal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Shutdown(t.Context())
	t.Chdir(t.TempDir())
	if got, want := up.Binary(), filepath.Join(app, "srv"); got != want {
		t.Errorf("after a chdir a restart starts %q, want %q", got, want)
	}
}
