// Command hotpatch is the hotpatch command line: building patchable
// baselines and patches, and (in later releases) pushing, listing and
// reverting them.
//
// Usage:
//
//	hotpatch build [-o BIN] [-inline module|all|none|PATTERN] [go build flags] [PKG]
//	hotpatch patch build [-o OUT.so] --baseline BIN [--module DIR] FILE.go
//	hotpatch patch build --kind process [-o OUT.proc] [--module-root DIR] FILE.go
//
// Each group of subcommands lives in its own file; main only dispatches.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand group: it gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"build": {"build a patchable baseline binary", runBuild},
		"patch": {"build patches (patch build)", runPatch},
	}
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hotpatch: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: hotpatch <command> [arguments]\n\ncommands:")
	for _, name := range slices.Sorted(maps.Keys(cmds)) {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
}

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return exitCode(stderr, cmdBuild(ctx, args, stdout, stderr))
}

// exitCode prints err, if any, and returns the exit status for it: 2 for a
// bad command line, 1 for any other failure.
func exitCode(stderr io.Writer, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errBadArgs):
		fmt.Fprintln(stderr, err)
		return 2
	default:
		fmt.Fprintln(stderr, "hotpatch:", err)
		return 1
	}
}
