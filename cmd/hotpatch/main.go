// Command hotpatch builds patchable baselines and patches, and drives
// running servers. Run "hotpatch help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errBadArgs):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "hotpatch:", err)
		os.Exit(1)
	}
}

const usage = `usage:
	hotpatch build [-o BIN] [-inline module|all|none|PATTERN] [go build flags] [PKG]
	hotpatch patch build [-o OUT.so] --baseline BIN [--module DIR] FILE.go`

// run dispatches a command line. Each command is a function of its own
// file, callable from any dispatcher.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	case args[0] == "build":
		return cmdBuild(ctx, args[1:], stdout, stderr)
	case args[0] == "patch" && len(args) > 1 && args[1] == "build":
		return cmdPatchBuildNative(ctx, args[2:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errBadArgs, args[0], usage)
}
