package bundleloader_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotpatch-go/hotpatch/internal/testbuild"
	"go.uber.org/goleak"
)

// procBin is the process payload built once for the package's tests, with
// the test binary's flags.
var procBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "hotpatch-bundleloader-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	procBin = filepath.Join(dir, "greet.proc")
	if err := testbuild.Build(".", procBin, "./testdata/greetproc"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
