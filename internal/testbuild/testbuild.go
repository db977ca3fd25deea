// Package testbuild builds the executables that tests need (plugins, helper
// programs) with the same flags as the running test binary, so that a -race
// test gets -race fixtures.
package testbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
)

// Flags returns the go build flags the running binary was built with that
// matter for a fixture: -race, -msan, -asan, -tags, -gcflags, -trimpath.
func Flags() []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var flags []string
	for _, s := range bi.Settings {
		switch s.Key {
		case "-race", "-msan", "-asan", "-trimpath":
			if s.Value == "true" {
				flags = append(flags, s.Key)
			}
		case "-tags", "-gcflags":
			if s.Value != "" {
				flags = append(flags, s.Key+"="+s.Value)
			}
		}
	}
	return flags
}

// Build runs `go build -o out [flags] pkg` in dir and returns its output in
// the error if it fails.
func Build(dir, out, pkg string, extra ...string) error {
	args := append([]string{"build", "-o", out}, Flags()...)
	args = append(args, extra...)
	args = append(args, pkg)
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if _, err := os.Stat(root + "/bin/go"); err == nil {
			return root + "/bin/go"
		}
	}
	return "go"
}
